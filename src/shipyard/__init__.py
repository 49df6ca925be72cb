"""Shipyard: a release engineering control plane."""

__version__ = "0.1.0"
