"""Fixtures shared by the whole suite: real DBus daemons, the shared DBC files, paths."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def dbus_daemon(tmp_path: Path) -> Iterator[str]:
    """A private dbus-daemon started for the test; yields its address."""
    binary = shutil.which("dbus-daemon")
    assert binary, "dbus-daemon is not installed (packaging/dev-setup.sh installs it)"
    socket_path = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(f"""<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket_path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
    proc = subprocess.Popen(
        [binary, "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:"), address
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment for subprocesses, without systemd's or DBus's variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "DBUS_SESSION_BUS_ADDRESS")
    }
