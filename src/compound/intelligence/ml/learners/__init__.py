"""The learners, by the name a spec gives them (see :mod:`compound.intelligence.ml.params`).

Importing this package asks OpenMP (LightGBM's and scikit-learn's thread pools) to let idle
threads sleep instead of spinning, unless ``OMP_WAIT_POLICY`` is already set. On a machine
whose cores are shared, spinning threads fight the busy ones: LightGBM trained the credit
default model in 12-30 s that way, against under 5 s with passive waiting, on the same 2 cores
under the same load. It must be set before the OpenMP runtime loads, hence here.
"""

import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from compound.intelligence.ml.learners.base import (
    FitProgress,
    Learner,
    no_progress,
    softmax,
)


def learner_class(name: str) -> type[Learner]:
    """The class of learner ``name``, registered under ``compound.learners`` (see
    :data:`compound.plugins.BUILTINS`); its module is imported on demand."""
    from compound.plugins import load

    cls: type[Learner] = load("compound.learners", name)
    return cls


__all__ = ["FitProgress", "Learner", "learner_class", "no_progress", "softmax"]
