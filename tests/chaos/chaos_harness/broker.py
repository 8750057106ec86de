"""`Broker` (mosquitto with mutual TLS, sessions persisted on disk) and `MeshFiles` (the keys,
certificates and pinned public keys of the car, the dispatcher and the client)."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil

from uplink import pki
from uplink.broker import Mosquitto
from uplink.client import TlsFiles
from uplink.mesh import Mesh

from .constants import CAR, CLIENT


class Broker:
    """mosquitto through `uplink.broker.Mosquitto` (its CA signs every certificate)."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.mosquitto = Mosquitto(workdir)
        self.port = self.mosquitto.port

    @property
    def log(self) -> Path:
        """mosquitto's own log file."""
        return self.mosquitto.log

    def start(self) -> None:
        """Start on the same port as before, with the sessions it persisted."""
        self.mosquitto.start()

    def stop(self) -> None:
        """A clean stop (SIGTERM: mosquitto writes its persistence file)."""
        self.mosquitto.stop()

    def pids(self) -> list[int]:
        """The mosquitto process of this broker (a child of the test process)."""
        config = str(self.mosquitto.config)
        found = []
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if config in child.cmdline():
                    found.append(child.pid)
        return found

    def kill(self) -> None:
        """SIGKILL (no last save on the way out), then reap."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.mosquitto.stop()

    def close(self) -> None:
        """Stop whatever runs."""
        self.kill()


@dataclass(frozen=True)
class MeshFiles:
    """Keys, certificates and pinned public keys of the car, the dispatcher and the client."""

    mesh: Mesh
    root: Path

    @classmethod
    def create(cls, root: Path, broker: Broker) -> MeshFiles:
        """Lay out the files (`uplink.mesh.Mesh`) and the pinned-key folders of the dispatcher."""
        mesh = Mesh.create(root, broker.mosquitto)
        for folder, names in (("nodes", [CAR]), ("clients", [CLIENT])):
            (root / folder).mkdir(exist_ok=True)
            for name in names:
                (root / folder / f"{name}.pub").write_text(mesh.public_key(name).hex())
        mesh.public_key("dispatcher")
        return cls(mesh, root)

    def tls(self, name: str) -> TlsFiles:
        """The CA and the client certificate of `name` (issued by the broker's CA on first
        use)."""
        cert = self.root / "pki" / f"{name}.pem"
        if not cert.exists():
            pki.issue(self.mesh.ca, self.root / "pki", name)
        return TlsFiles(self.mesh.ca.cert, cert, self.root / "pki" / f"{name}.key")
