"""The ``aezoo`` command line: one module per command group, imported when its command runs."""
