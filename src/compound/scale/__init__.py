"""Batch work at scale: evaluation rows, batch predictions and training folds on Ray.

``--on ray`` starts a local Ray for the command; ``--on ray://HOST:PORT`` connects to a
running cluster (:mod:`compound.scale.cluster`). What runs there:

* :mod:`compound.scale.eval`: an eval's rows over Ray actors, each building the system once;
  planning, the output cache, resuming, the summary and the gate stay with the local runner.
* :mod:`compound.scale.predict`: chunks of a batch prediction file over Ray actors.
* :mod:`compound.scale.fan_out`: cross-fitting folds and whole trainings as Ray tasks.

Ray is optional: ``pip install 'compound[ray]'``.
"""
