"""Safety rails: guardrails that run before a model sees a request and before a user sees an
answer, each deciding allow, redact, escalate or block, with a reason, recorded in the trace.

Modules, by concept:

* :mod:`~compound.production.rails.verdict`: verdicts, actions, redactions, guard results;
* :mod:`~compound.production.rails.base`: the rail interface and the ``compound.rails``
  extension point;
* :mod:`~compound.production.rails.engine`, :mod:`~compound.production.rails.stream`: the
  guard (concurrent, time-limited, traced) and stream checking;
* built-in rails: :mod:`~compound.production.rails.injection` (with
  :mod:`~compound.production.rails.heuristics` and the ML stage in
  :mod:`~compound.production.rails.classifier`), :mod:`~compound.production.rails.pii`
  (recognisers in :mod:`~compound.privacy.recognizers`, below the store, which redacts with
  them too),
  :mod:`~compound.production.rails.secrets`, :mod:`~compound.production.rails.topic`,
  :mod:`~compound.production.rails.structured` (output schema),
  :mod:`~compound.production.rails.grounded`;
* :mod:`~compound.production.rails.normalization`: evasions undone, work bounded;
* :mod:`~compound.production.rails.redaction`: the tracing redaction hook (the
  :class:`~compound.privacy.redactor.Redactor`), a redacting span sink and a log filter;
* :mod:`~compound.production.rails.steps`: rails in workflows.

Example:
    >>> from compound.production.rails import Guard, PIIRail, SecretsRail
    >>> guard = Guard([PIIRail(), SecretsRail()])
    >>> guard.check_input("call me on +1 415 555 0100").text
    'call me on <PHONE_NUMBER>'
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "Action": "compound.production.rails.verdict",
    "Verdict": "compound.production.rails.verdict",
    "GuardResult": "compound.production.rails.verdict",
    "RailInput": "compound.production.rails.verdict",
    "Redaction": "compound.privacy.spans",
    "apply_redactions": "compound.privacy.spans",
    "Rail": "compound.production.rails.base",
    "BaseRail": "compound.production.rails.base",
    "RailRequest": "compound.production.rails.base",
    "build_rail": "compound.production.rails.base",
    "Guard": "compound.production.rails.engine",
    "GuardedStream": "compound.production.rails.stream",
    "InjectionRail": "compound.production.rails.injection",
    "Classifier": "compound.production.rails.classifier",
    "FixedClassifier": "compound.production.rails.classifier",
    "ModelClassifier": "compound.production.rails.classifier",
    "train_classifier": "compound.production.rails.classifier",
    "PIIRail": "compound.production.rails.pii",
    "NameFinder": "compound.production.rails.pii",
    "LLMNameFinder": "compound.production.rails.pii",
    "find_entities": "compound.privacy.recognizers",
    "SecretsRail": "compound.production.rails.secrets",
    "find_secrets": "compound.privacy.secrets",
    "redact_secrets": "compound.privacy.secrets",
    "TopicRail": "compound.production.rails.topic",
    "Topic": "compound.production.rails.topic",
    "SchemaRail": "compound.production.rails.structured",
    "GroundednessRail": "compound.production.rails.grounded",
    "normalize": "compound.production.rails.normalization",
    "TraceRedactor": "compound.production.rails.redaction",
    "RedactingSink": "compound.production.rails.redaction",
    "SecretsLogFilter": "compound.production.rails.redaction",
    "guarded_run": "compound.production.rails.steps",
    "GuardedRun": "compound.production.rails.steps",
}

__all__ = [
    "Action",
    "BaseRail",
    "Classifier",
    "FixedClassifier",
    "GroundednessRail",
    "Guard",
    "GuardResult",
    "GuardedRun",
    "GuardedStream",
    "InjectionRail",
    "LLMNameFinder",
    "ModelClassifier",
    "NameFinder",
    "PIIRail",
    "Rail",
    "RailInput",
    "RailRequest",
    "RedactingSink",
    "Redaction",
    "SchemaRail",
    "SecretsLogFilter",
    "SecretsRail",
    "Topic",
    "TopicRail",
    "TraceRedactor",
    "Verdict",
    "apply_redactions",
    "build_rail",
    "find_entities",
    "find_secrets",
    "guarded_run",
    "normalize",
    "redact_secrets",
    "train_classifier",
]

if _typing.TYPE_CHECKING:
    from compound.privacy.recognizers import find_entities
    from compound.privacy.secrets import find_secrets, redact_secrets
    from compound.privacy.spans import Redaction, apply_redactions
    from compound.production.rails.base import BaseRail, Rail, RailRequest, build_rail
    from compound.production.rails.classifier import (
        Classifier,
        FixedClassifier,
        ModelClassifier,
        train_classifier,
    )
    from compound.production.rails.engine import Guard
    from compound.production.rails.grounded import GroundednessRail
    from compound.production.rails.injection import InjectionRail
    from compound.production.rails.normalization import normalize
    from compound.production.rails.pii import LLMNameFinder, NameFinder, PIIRail
    from compound.production.rails.redaction import (
        RedactingSink,
        SecretsLogFilter,
        TraceRedactor,
    )
    from compound.production.rails.secrets import SecretsRail
    from compound.production.rails.steps import GuardedRun, guarded_run
    from compound.production.rails.stream import GuardedStream
    from compound.production.rails.structured import SchemaRail
    from compound.production.rails.topic import Topic, TopicRail
    from compound.production.rails.verdict import (
        Action,
        GuardResult,
        RailInput,
        Verdict,
    )


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
