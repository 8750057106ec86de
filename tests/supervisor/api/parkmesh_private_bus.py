"""A private ``dbus-daemon`` for tests: started with a generated config, stopped afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supervisor.demo.bus import OPEN_POLICY, open_private_bus


@contextmanager
def private_bus(extra: str = OPEN_POLICY, *, world: bool = False) -> Iterator[str]:
    """Run a dbus-daemon whose config holds `extra` (policies, includes); yield its address.

    With `world`, the socket lives in a directory every user can reach (for other-uid clients).
    """
    directory = Path(tempfile.mkdtemp(prefix="parkmesh-bus-", dir="/tmp"))
    try:
        with open_private_bus(directory, extra, world=world) as address:
            yield address
    finally:
        shutil.rmtree(directory, ignore_errors=True)


FAKE_DAEMON = Path(__file__).with_name("parkmesh_fake_daemon.py")


class FakeDaemonProcess:
    """The fake daemon as its own process; `send` changes its state through its stdin."""

    def __init__(self, bus: str, ledger: Path | None = None) -> None:
        self.bus = bus
        extra = ["--ledger", str(ledger)] if ledger is not None else []
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_DAEMON), "--bus", bus, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the fake daemon did not start")

    def send(self, change: str) -> None:
        """Write one JSON control line (see parkmesh_fake_daemon)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(change + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """End the process (closing stdin ends it) and wait for it."""
        if self.proc.poll() is None:
            self.proc.communicate(input="", timeout=10)
        else:
            self.proc.communicate()


REPO = Path(__file__).resolve().parents[3]


class RealDaemonProcess:
    """``parkmesh run`` with the scenario car, its API on `bus`, its state under `state_dir`;
    with `workers`, also a real confined worker running all-MiniLM-L6-v2."""

    node_dir: Path | None = None

    def _worker_node(self) -> str:
        """Provision a worker node readable by the unprivileged worker user; its config."""
        import os
        import tempfile

        from sandbox.keys import provision_worker_key
        from supervisor.demo.mesh import demo_models_dir

        base = self.node_dir = Path(tempfile.mkdtemp(prefix="parkmesh-test-node-", dir="/tmp"))
        base.chmod(0o755)
        uid = 65534 if os.geteuid() == 0 else os.geteuid()
        gid = 65534 if os.geteuid() == 0 else os.getegid()
        provision_worker_key(base / "keys" / "worker.key", uid, gid)
        (base / "keys").chmod(0o755)
        return (
            f'[sandbox]\nmodels_dir = "{demo_models_dir()}"\n'
            f'worker_key = "{base / "keys" / "worker.key"}"\n'
            f'scratch_dir = "{base / "scratch"}"\nworker_user = "{uid}"\nthreads = 1\n'
        )

    def __init__(
        self,
        bus: str,
        state_dir: Path,
        *,
        speed: float = 2.0,
        settle_s: float = 0.5,
        timeout_s: float = 60.0,
        workers: bool = False,
    ) -> None:
        import time

        from supervisor.api import client
        from thermal.preferences import OwnerPreferences
        from thermal.prefstore import PreferenceStore

        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        # The daemon plans by the real clock: an owner's 07:30 departure would bind, or not,
        # by the time of day the suite runs. These tests are about the API and the TUI.
        PreferenceStore(state_dir).save(OwnerPreferences(departures=()))
        sandbox = "[sandbox]\nmodels = []\n"
        if workers:
            sandbox = self._worker_node()
        config = state_dir / "parkmesh.toml"
        config.write_text(f"""
[daemon]
state_dir = "{state_dir}"
runtime_dir = "{state_dir / "run"}"
[vehicle]
source = "scenario"
[vehicle.scenario]
speed = {speed}
[policy]
settle_s = {settle_s * speed}
[api]
bus = "{bus}"
poll_s = 0.1
{sandbox}""")
        self.log = (state_dir / "daemon.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.cli", "run", "--config", str(config)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PARKMESH_BUS_ADDRESS": ""},
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.call("Explain", bus=bus)
                return
            except client.DaemonUnreachable:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        "parkmesh run did not serve its API:\n"
                        + (state_dir / "daemon.log").read_text()
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then wait (the daemon's own shutdown is bounded)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.node_dir is not None:
            import shutil

            shutil.rmtree(self.node_dir, ignore_errors=True)
