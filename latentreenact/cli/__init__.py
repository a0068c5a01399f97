"""The ``latentreenact`` command-line interface (click)."""
