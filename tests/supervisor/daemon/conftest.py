"""Fixtures for the daemon tests: the sandbox's node (a models folder, keys and a worker user)."""

from tests.sandbox.conftest import node

__all__ = ["node"]
