"""A private DBus bus: the demo's (so that ``parkmesh tui`` can watch the demo's daemon), and
the one the tests start."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Anyone on the bus may own names and talk to anyone: a private bus holds only our processes.
OPEN_POLICY = """
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>"""

_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  {policy}
</busconfig>
"""


def demo_bus_dir(run_dir: Path) -> Path:
    """Where one demo run's bus lives: inside the run's own folder, so that two demos of one
    user each have their own bus (the address is printed for ``parkmesh tui``), and one
    ending never removes the other's."""
    return run_dir / "bus"


@contextmanager
def open_private_bus(
    directory: Path, policy: str = OPEN_POLICY, *, world: bool = False
) -> Iterator[str]:
    """Start a dbus-daemon listening in `directory`; yields its address; stops it on exit.

    Args:
        directory: where the socket and the generated configuration go (created).
        policy: the ``<policy>`` (and ``<include>``) elements of the configuration.
        world: make the socket reachable by every user (for callers of other uids).

    Raises:
        RuntimeError: dbus-daemon is missing or did not start (with its error output).
    """
    binary = shutil.which("dbus-daemon")
    if binary is None:
        raise RuntimeError("dbus-daemon is not installed (packaging/dev-setup.sh installs it)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if world:
        directory.chmod(0o755)
    socket = directory / "bus"
    socket.unlink(missing_ok=True)
    config = directory / "bus.conf"
    config.write_text(_CONFIG.format(socket=socket, policy=policy))
    proc = subprocess.Popen(
        [binary, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address.startswith("unix:"):
            detail = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"dbus-daemon did not start: {detail.strip()}")
        if world:
            socket.chmod(0o777)
        yield address
    finally:
        proc.terminate()
        proc.communicate(timeout=5)  # reaps it and closes the pipes
        socket.unlink(missing_ok=True)
        config.unlink(missing_ok=True)
