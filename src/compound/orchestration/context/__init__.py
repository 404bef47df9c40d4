"""Context construction: what a model sees, under a token budget, with a record of what was
left out. See :mod:`compound.orchestration.context.builder`; prompt templates (the one
template language of a spec) are :mod:`compound.orchestration.context.template`, and the
built-in ``context`` workflow step is :mod:`compound.workflow.kinds.context`.

Example:
    >>> context = ContextBuilder(budget=50).run(
    ...     instructions="Answer from the sources.", question="Why do cats purr?",
    ...     passages=[Passage("a", "Cats purr when content.", score=1.0)])
    >>> context.tokens <= 50, context.citations["1"].id
    (True, 'a')
"""

from compound.orchestration.context.builder import (
    ContextBuilder,
    first_sentences,
    truncate_to_tokens,
)
from compound.orchestration.context.template import (
    Citation,
    Template,
    TemplateError,
    TemplateValueError,
)
from compound.orchestration.context.types import (
    Context,
    ContextBudgetError,
    ContextPolicy,
    Dropped,
    Passage,
    Section,
    Summariser,
    TokenCounter,
    ToolResult,
    Turn,
    approx_tokens,
)

__all__ = [
    "Citation",
    "Context",
    "ContextBudgetError",
    "ContextBuilder",
    "ContextPolicy",
    "Dropped",
    "Passage",
    "Section",
    "Summariser",
    "Template",
    "TemplateError",
    "TemplateValueError",
    "TokenCounter",
    "ToolResult",
    "Turn",
    "approx_tokens",
    "first_sentences",
    "truncate_to_tokens",
]
