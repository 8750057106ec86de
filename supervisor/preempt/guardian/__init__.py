"""The guardian: the vehicle's hard stops in a process of their own (docs/stop-path.md)."""
