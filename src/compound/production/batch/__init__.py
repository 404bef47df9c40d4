"""Batch inference (`compound predict`): a predictor or a workflow over a JSONL, CSV or
Parquet file, streamed in chunks, written in the format of the output file's extension.

* :mod:`~compound.production.batch.files`: reading input rows in chunks with the shared
  readers, and writing output rows (to a ``.partial`` file renamed at the end).
* :mod:`~compound.production.batch.predict`: the model side (:class:`BatchModel`) and the
  loop with its progress bar (:func:`predict_file`); Ray spreads the chunks over actors
  (:mod:`compound.scale.predict`).
"""
