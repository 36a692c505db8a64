"""The ``miljo`` command-line interface."""
