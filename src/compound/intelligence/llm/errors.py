"""Typed failures of LLM calls, so that strategies (retry, fallback, escalation) can act on them.

All are :class:`~compound.errors.RuntimeFailure`: the world failed, not the user.
``retryable`` says whether trying the same call again may succeed.
"""

from __future__ import annotations

from compound.errors import RuntimeFailure, UserError


class LLMError(RuntimeFailure):
    """A call to a model failed."""

    retryable = False
    reason = "error"

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        self.provider = provider
        self.model = model
        prefix = f"{provider}:{model}: " if provider else ""
        super().__init__(prefix + message)


class LLMTimeout(LLMError):
    """The model did not answer within the timeout."""

    retryable = True
    reason = "timeout"


class LLMCancelled(LLMError):
    """The call was stopped because its caller went away (a request cancelled or timed out,
    an enclosing deadline passed): nobody waits for the answer any more."""

    reason = "cancelled"


class RateLimited(LLMError):
    """The provider refused the call for now; ``retry_after_s`` says when to try again."""

    retryable = True
    reason = "rate_limit"

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: str) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)


class ContextOverflow(LLMError):
    """The prompt plus the tokens asked for do not fit the model's context window."""

    reason = "context_overflow"

    def __init__(
        self, message: str, *, prompt_tokens: int | None = None, limit: int | None = None,
        **kw: str,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.limit = limit
        super().__init__(message, **kw)


class InvalidResponse(LLMError):
    """The provider answered, but not with something usable (bad JSON, schema mismatch...)."""

    retryable = True
    reason = "invalid_response"

    def __init__(self, message: str, *, raw: str = "", **kw: str) -> None:
        self.raw = raw
        super().__init__(message, **kw)


class ProviderUnavailable(LLMError):
    """The provider could not be reached or failed on its side (connection refused, 5xx)."""

    retryable = True
    reason = "unavailable"


class MissingCredentials(UserError):
    """A provider needs an API key that is not set."""
