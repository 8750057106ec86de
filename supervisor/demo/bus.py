"""A private DBus bus for the demo, so that ``parkmesh tui`` can watch the demo's daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def demo_bus_dir() -> Path:
    """Where the demo's bus socket lives: the same place for the demo and the TUI."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path("/tmp")
    return base / f"parkmesh-demo-{os.getuid()}"


@contextmanager
def open_private_bus(directory: Path) -> Iterator[str]:
    """Start a dbus-daemon listening in `directory`; yields its address; stops it on exit.

    Raises:
        RuntimeError: dbus-daemon is missing or did not start.
    """
    binary = shutil.which("dbus-daemon")
    if binary is None:
        raise RuntimeError("dbus-daemon is not installed (packaging/dev-setup.sh installs it)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = directory / "bus"
    socket.unlink(missing_ok=True)
    config = directory / "bus.conf"
    config.write_text(_CONFIG.format(socket=socket))
    proc = subprocess.Popen(
        [binary, "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address.startswith("unix:"):
            raise RuntimeError("dbus-daemon did not start")
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        socket.unlink(missing_ok=True)
