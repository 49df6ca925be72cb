"""Protocols the services use, one module per port; adapters/ holds their backends."""
