"""Fixtures shared by the whole suite: real DBus daemons, the shared DBC files, paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from supervisor.demo.bus import open_private_bus

# Property tests run the same examples on every run, so that CI is never red by the luck of a
# draw; ``HYPOTHESIS_PROFILE=explore`` draws new ones (and more) to hunt for bugs.
settings.register_profile("parkmesh", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "parkmesh"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DBC = REPO.parent / "shared" / "data" / "dbc"
DATA = REPO / "supervisor" / "vehicle" / "data"


@pytest.fixture(scope="session")
def model3_dbc() -> Path:
    """The real Tesla Model 3 vehicle-CAN DBC from ../shared (required, never skipped)."""
    path = SHARED_DBC / "Model3CAN.dbc"
    assert path.is_file(), f"{path} is missing: the test suite needs ../shared beside the repo"
    return path


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    """A private dbus-daemon started for the test; yields its address."""
    with open_private_bus(tmp_path / "bus") as address:
        yield address


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment for subprocesses, without systemd's or DBus's variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "DBUS_SESSION_BUS_ADDRESS")
    }
