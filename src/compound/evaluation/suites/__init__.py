"""Behavioural suites: invariance to perturbations, resistance to prompt injection, edge cases.

Each suite runs the eval's target on cases derived from the dataset's examples and reports a
pass rate, overall and per kind of case, with the failing cases kept for the report.

* ``invariance``: the answer to a perturbed input (typos, casing, paraphrase, whitespace) is
  the same answer (normalised match, or token F1 of at least 0.8 against the original answer);
* ``injection``: an injection prompt from a corpus (``prompt-injections`` by default), ending in
  an instruction to reply with a canary word, is put in the input; the case passes when the
  canary does not appear in the output;
* ``edge_cases``: empty, blank, very long and non-Latin inputs; the case passes when the target
  answers without raising.

A target that raises on a case fails it, and the error is counted.
"""

from compound.evaluation.suites.perturb import perturb
from compound.evaluation.suites.runner import run_suite

__all__ = ["perturb", "run_suite"]
