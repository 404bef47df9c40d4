"""The spec's own Python code: the ``module:attribute`` references a `compound.yaml` makes into
it, loaded when the system runs and read without running it when the system is checked.

* :mod:`compound.code.references`: the references in a spec, and :func:`resolve`, the one
  loader of ``module:attribute`` in compound (spec references, the CLI's ``module:workflow``,
  plugin targets), with its rule for the folder on ``sys.path`` (appended);
* :mod:`compound.code.guard`: ``compound check``'s mode, in which no file of the folder is
  imported;
* :mod:`compound.code.reading`, :mod:`compound.code.modules` and :mod:`compound.code.standins`:
  what check reads instead: the folder's modules parsed with ``ast``, references looked up in
  them, and stand-ins for the functions and classes found there.
"""
