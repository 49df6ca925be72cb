"""Clients of remote build caches: ``http`` speaks Bazel's HTTP remote-cache protocol."""
