"""Notification sinks: each posts one event somewhere people will see it."""
