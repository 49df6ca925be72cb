"""Executors run pipeline steps: ``local`` as subprocesses on this machine."""
