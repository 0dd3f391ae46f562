"""The ``mainsail`` command: one module per subcommand, wired in ``main``."""
