"""`World`: broker, dispatcher, car daemon and client on loopback in one folder, all killed and
reaped on exit; and `power_cut`, everything SIGKILLed at once."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from .broker import Broker, MeshFiles
from .car import CarDaemon
from .client import ChaosClient
from .dispatcher import DispatcherProcess


def power_cut(broker: Broker, dispatcher: DispatcherProcess, daemon: CarDaemon) -> None:
    """SIGKILL the broker, the dispatcher, the daemon and its worker in one go, then reap."""
    pids = [
        *broker.pids(),
        *([dispatcher.pid] if dispatcher.alive else []),
        *daemon.worker_pids(),
        *([daemon.pid] if daemon.alive else []),
    ]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for proc in (dispatcher, daemon):
        proc.kill("power cut")
    broker.kill()


class World:
    """Broker, dispatcher, car daemon and client on loopback, laid out in `root`.

    Use as a context manager: every process is killed and reaped on exit, whatever happened.
    """

    def __init__(
        self, root: Path, bus: str, *, texts: list[str], shutdown_grace_s: float, models_dir: Path
    ) -> None:
        self.root = root
        self.broker = Broker(root / "broker")
        self.files = MeshFiles.create(root / "mesh", self.broker)
        self.dispatcher = DispatcherProcess(self.files, self.broker.port, root)
        self.car = CarDaemon(
            self.files, root, bus, shutdown_grace_s=shutdown_grace_s, models_dir=models_dir
        )
        self.client = ChaosClient(self.files, self.broker.port, texts)

    def start(self) -> None:
        """Cold start of everything but the client (which runs in the test's trio loop)."""
        self.broker.start()
        self.dispatcher.start()
        self.car.start()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill and reap every process (again: harmless)."""
        for part in (self.car, self.dispatcher, self.broker):
            with contextlib.suppress(Exception):
                part.close()

    def databases(self) -> list[Path]:
        """Every sqlite file of the world."""
        return [
            p
            for p in (self.car.journal_file, self.car.ledger_file, self.dispatcher.db)
            if p.exists()
        ]
