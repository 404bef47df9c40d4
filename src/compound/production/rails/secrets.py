"""The secrets rail: API keys, tokens, private keys and passwords found and redacted (or the
text blocked) in requests and answers.

The recogniser, :func:`~compound.privacy.secrets.find_secrets`, lives in
:mod:`compound.privacy` (below the store, which redacts with it too); it is re-exported here.

Example:
    >>> text = "use key sk-proj-abcdefghijklmnopqrstuvwx12 please"
    >>> redact_secrets(text)
    'use key <API_KEY> please'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compound.privacy.secrets import PROVIDER_KEY_ENV, find_secrets, redact_secrets
from compound.production.rails.base import BaseRail, RailRequest
from compound.production.rails.verdict import Action, RailInput, Verdict

if TYPE_CHECKING:
    from compound.workflow.context import RunContext

__all__ = ["PROVIDER_KEY_ENV", "SecretsRail", "find_secrets", "redact_secrets"]


class SecretsRail(BaseRail):
    """Finds API keys, tokens, private keys and passwords; redacts them by default.

    Args:
        known: exact values to treat as secrets (e.g. the system's own API keys).
        known_env: names of environment variables whose values are secrets, read in
            :meth:`load` (the spec's ``api_key_env`` names are added by :meth:`from_spec`).
        **common: name, stages, action, timeout_s, on_error (see :class:`BaseRail`).

    Example:
        >>> rail = SecretsRail()
        >>> verdict = rail.run("my token is ghp_" + "a" * 36)
        >>> verdict.action, verdict.reason
        ('redact', 'found 1 secret (TOKEN)')
    """

    type = "secrets"
    default_stages = ("input", "output")
    default_action: Action = "redact"
    allowed_actions: tuple[Action, ...] = ("redact", "block", "escalate")
    streams = True

    def __init__(self, *, known: Sequence[str] = (), known_env: Sequence[str] = (),
                 **common: Any) -> None:
        super().__init__(**common)
        self.known = list(known)
        self.known_env = list(known_env)
        self._values: list[str] = list(known)
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        import os

        self._values = [*self.known, *(os.environ[n] for n in self.known_env if os.environ.get(n))]
        self._loaded = True

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        self.load()
        spans = find_secrets(subject.text, known=self._values)
        if not spans:
            return self.allow(subject, "no secrets found")
        labels = sorted({s.label for s in spans})
        count = len(spans)
        return self.fire(subject, f"found {count} secret{'s' * (count != 1)} "
                                  f"({', '.join(labels)})",
                         redactions=tuple(spans), details={"labels": labels, "count": count})

    @classmethod
    def from_spec(cls, request: RailRequest) -> SecretsRail:
        options = dict(request.spec.options)
        env = list(options.pop("known_env", []))
        env += list(PROVIDER_KEY_ENV)
        if request.system is not None:
            env += [m.api_key_env for m in request.system.llms().values() if m.api_key_env]
        return cls(**request.common(), known_env=env, **options)
