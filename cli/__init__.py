"""The ``rnndyn`` command line (installed as ``rnndyn.cli``)."""
