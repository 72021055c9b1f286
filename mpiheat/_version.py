"""The package version, in a module of its own: lower layers (``mpiheat.io`` provenance) read it without importing
the package root (which imports the public API from the top layer)."""

__version__ = "0.1.0"
