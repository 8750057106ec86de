"""The reference dispatcher (for demos, tests and sizing) and the ``submit`` client."""
