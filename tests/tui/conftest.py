"""Fixtures for the TUI tests: the in-memory daemon (``client``), and the private bus's helpers
for the one test against the real daemon.

The TUI is asyncio (Textual); pytest runs async tests under trio here, so the Pilot tests are
plain functions that run their scenario with ``asyncio.run``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "supervisor" / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from memory_client import MemoryClient


@pytest.fixture
def client() -> MemoryClient:
    """The daemon in memory, with the fake daemon's fixed data."""
    return MemoryClient()
