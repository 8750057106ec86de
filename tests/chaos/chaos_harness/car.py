"""`CarDaemon`: ``parkmesh run --config FILE`` for a car parked and plugged in (a scenario that
never changes), a real confined worker (all-MiniLM-L6-v2 on the CPU), the uplink to the broker
and the DBus API on a private bus; it finds its worker among its children (psutil), and reads
its journal, outbox and ledger."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import psutil

from .broker import MeshFiles
from .constants import CAR, MODEL, PYTHON
from .process import Process
from .sqlite_files import rows

PARKED_SCENARIO = """# A car parked in the driveway, plugged into a Level 2 charger, all night: nothing changes.
name = "parked all night"
refresh_s = 0.1
max_age_s = 1.0

[initial]
"Vehicle.Cabin.Door.Row1.DriverSide.IsOpen" = false
"Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen" = false
"Vehicle.Cabin.Door.Row2.DriverSide.IsOpen" = false
"Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen" = false
"Vehicle.Body.Trunk.Rear.IsOpen" = false
"Vehicle.Body.Trunk.Front.IsOpen" = false
"Vehicle.Powertrain.Transmission.SelectedGear" = 126
"Vehicle.Speed" = 0.0
"Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus" = "EMPTY"
"Vehicle.LowVoltageSystemState" = "OFF"
"Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed" = 72.0
"Vehicle.Powertrain.TractionBattery.NetCapacity" = 75
"Vehicle.Powertrain.TractionBattery.Charging.ChargingPort.AnyPosition.IsChargingCableConnected" = true
"Vehicle.Powertrain.TractionBattery.Charging.IsCharging" = true
"Vehicle.Powertrain.TractionBattery.Charging.AveragePower" = 7.2
"Vehicle.Powertrain.TractionBattery.Temperature.Average" = 24.0
"Vehicle.Powertrain.ElectricMotor.EngineCoolant.Temperature" = 28.0
"Vehicle.Cabin.HVAC.AmbientAirTemperature" = 22.0
"Vehicle.Exterior.AirTemperature" = 15.0
"""


class CarDaemon(Process):
    """``parkmesh run`` for the parked car: its config, state files, worker and API.

    The worker's files (key, scratch) live in a folder of /tmp every user can traverse: as
    root, the worker runs as nobody (65534), who cannot enter pytest's private temp folders.
    """

    def __init__(
        self,
        files: MeshFiles,
        workdir: Path,
        bus: str,
        *,
        shutdown_grace_s: float,
        models_dir: Path,
    ) -> None:
        super().__init__("daemon", workdir / "daemon.log")
        from sandbox.keys import provision_worker_key
        from thermal.preferences import OwnerPreferences
        from thermal.prefstore import PreferenceStore

        self.bus = bus
        self.shutdown_grace_s = shutdown_grace_s
        self.state_dir = workdir / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.journal_file = self.state_dir / "uplink.sqlite3"
        self.ledger_file = self.state_dir / "ledger.sqlite"
        # The budget plans by the real clock: no departure, so the time of day cannot bind.
        PreferenceStore(self.state_dir).save(OwnerPreferences(departures=()))
        self.node_dir = Path(tempfile.mkdtemp(prefix="parkmesh-chaos-node-", dir="/tmp"))
        self.node_dir.chmod(0o755)
        uid = 65534 if os.geteuid() == 0 else os.geteuid()
        gid = 65534 if os.geteuid() == 0 else os.getegid()
        provision_worker_key(self.node_dir / "keys" / "worker.key", uid, gid)
        (self.node_dir / "keys").chmod(0o755)
        scenario = workdir / "parked.toml"
        scenario.write_text(PARKED_SCENARIO)
        uplink = files.mesh.node_toml(
            CAR, state_file=self.journal_file, reconnect_max_s=0.5, will_delay_s=2
        )
        self.config = workdir / "parkmesh.toml"
        self.config.write_text(f"""
[daemon]
state_dir = "{self.state_dir}"
runtime_dir = "{self.state_dir / "run"}"
shutdown_grace_s = {shutdown_grace_s}
[vehicle]
source = "scenario"
[vehicle.scenario]
file = "{scenario}"
[policy]
settle_s = 0.3
[api]
bus = "{bus}"
poll_s = 0.5
[sandbox]
models_dir = "{models_dir}"
models = ["{MODEL}"]
worker_key = "{self.node_dir / "keys" / "worker.key"}"
scratch_dir = "{self.node_dir / "scratch"}"
worker_user = "{uid}"
threads = 1
restart_backoff_s = 0.2
restart_backoff_max_s = 1.0
{uplink}""")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "NOTIFY_SOCKET",
                "WATCHDOG_USEC",
                "WATCHDOG_PID",
                "DBUS_SESSION_BUS_ADDRESS",
                "JOURNAL_STREAM",
            )
        } | {"PARKMESH_BUS_ADDRESS": ""}

    def start(self) -> None:
        """Start the daemon (its worker warms up for several seconds)."""
        self.spawn(
            [PYTHON, "-m", "supervisor.cli", "run", "--config", str(self.config)], env=self.env
        )

    def worker_pids(self) -> list[int]:
        """The daemon's confined workers (``python -m sandbox.worker``), found as its children."""
        if not self.alive:
            return []
        found = []
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "sandbox.worker" in " ".join(child.cmdline()):
                        found.append(child.pid)
        return found

    def kill_worker(self) -> int | None:
        """SIGKILL the worker; its pid, None when there was none."""
        for pid in self.worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.note(f"SIGKILL of the worker (pid {pid})")
            return pid
        return None

    def journal(self) -> dict[str, str]:
        """The car's uplink journal: job id -> ``running``, ``answered`` (it ran) or
        ``declined`` (refused on offer: it never ran)."""
        return {r["job"]: r["state"] for r in rows(self.journal_file, "SELECT * FROM journal")}

    def outbox(self) -> list[dict[str, Any]]:
        """Answers the broker has not acknowledged yet."""
        return rows(self.journal_file, "SELECT seq, job, kind FROM outbox")

    def ledger_entries(self) -> list[dict[str, Any]]:
        """Every ledger entry, through the ledger's own reader."""
        from supervisor.ledger import Ledger

        if not self.ledger_file.exists():
            return []
        with Ledger(self.ledger_file, readonly=True) as ledger:
            return [{"seq": seq, **entry.as_dict()} for seq, entry in ledger.entries()]

    def budget(self) -> dict[str, Any]:
        """The daemon's budget as its DBus API shows it (``BudgetJson``)."""
        from supervisor.api import client

        value: dict[str, Any] = client.get_property("BudgetJson", bus=self.bus)
        return value

    def close(self) -> None:
        """Kill the daemon (its worker dies with it) and remove the worker's folder."""
        for pid in self.worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        super().close()
        import shutil

        shutil.rmtree(self.node_dir, ignore_errors=True)
