"""The ``multisession`` command, its importer and the demo."""

from .main import main

__all__ = ["main"]
