"""The design review: a system held against the framework's principles (`compound check
--review`, and a section of `compound up`'s report).

Each principle is a :class:`~compound.design_review.finding.Rule` in a module of its group:

* :mod:`~compound.design_review.models`: the right model for the job;
* :mod:`~compound.design_review.rails`: guardrails on the request path;
* :mod:`~compound.design_review.resilience`: fallbacks, timeouts, budgets;
* :mod:`~compound.design_review.evaluation`: criteria, evals, enough rows;
* :mod:`~compound.design_review.flywheel`: feedback reaching trained models;
* :mod:`~compound.design_review.latency`: latency criteria over LLMs.

The review reads the spec and its data files; it runs no model and imports none of the spec
folder's code. A spec accepts a finding with ``design_review: {silence: {ID: reason}}``: the
finding still shows, as silenced, and no longer fails ``--strict``.

Example:
    >>> from compound.design_review import review
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer.
    ... models: {llm: {provider: scripted}}
    ... workflows:
    ...   answer:
    ...     steps: [{name: draft, uses: llm}]
    ... design_review:
    ...   silence: {no-criteria: "a demo, never served"}
    ... ''')
    >>> [(f.id, f.silenced) for f in review(system).findings]
    [('no-input-rail', False), ('no-criteria', True)]
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "Finding": "compound.design_review.finding",
    "RULES": "compound.design_review.reviewing",
    "Review": "compound.design_review.reviewing",
    "Rule": "compound.design_review.finding",
    "review": "compound.design_review.reviewing",
}

__all__ = ["RULES", "Finding", "Review", "Rule", "review"]

if _typing.TYPE_CHECKING:
    from compound.design_review.finding import Finding, Rule
    from compound.design_review.reviewing import RULES, Review, review

__getattr__, __dir__ = _attach(__name__, _EXPORTS)
