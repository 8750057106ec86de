"""The chaos tests' harness package sits beside them (imported as ``chaos_harness``)."""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def no_stack_dump_at_two_minutes() -> None:
    """The chaos test runs three to four minutes by design: the suite's 120 s faulthandler dump
    would only print every thread's stack mid-run. Its own pytest-timeout still bounds it."""
    faulthandler.cancel_dump_traceback_later()
