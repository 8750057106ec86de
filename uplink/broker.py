"""Start a real mosquitto on loopback with mutual TLS, for tests, the benchmark and the demo.

`Mosquitto` writes a config (MQTT 5 over TLS, ``require_certificate true``, persistence in its
directory unless turned off) and runs ``/usr/sbin/mosquitto -c`` as a child process.
Persistence keeps the persistent sessions (subscriptions, queued QoS 1 messages, messages in
flight that a client has not acknowledged yet) and retained messages in ``data/mosquitto.db``:
written on a clean stop (SIGTERM) and, with `save_every_change` (the default), after every
change, so that a broker killed outright (SIGKILL, the tests' power cut) keeps what it
acknowledged. mosquitto rewrites the file after the change is made, not before its PUBACK
leaves, so a kill can still lose the last few milliseconds; with ``save_every_change=False`` it
saves once a second at most (``autosave_interval 1``) and a kill loses up to a second. A real
power cut also needs the file system to have written the file (mosquitto does not wait for the
disk).
`start`/`stop`/`restart` are synchronous: they block until the port accepts (or is closed), a
few milliseconds on loopback.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from . import pki

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mosquitto:
    """A mosquitto child process with a CA, a server certificate and persistence in `workdir`.

    Args:
        save_every_change: save the persistence file after every change (see the module
            docstring) rather than once a second.
        persistence: keep sessions and messages in a file at all. Off, the broker keeps them
            in memory only (lost with it); for benches, whose broker stands for the fleet's,
            on another machine: its file writes (each a rewrite of every message in flight)
            must not land on the car's CPUs and disk.

    Attributes:
        ca: the CA that signs the server and every client certificate (`client_cert`).
        port: the TLS listener on 127.0.0.1.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        save_every_change: bool = True,
        persistence: bool = True,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.ca = pki.make_ca(workdir / "pki")
        self.server = pki.issue(self.ca, workdir / "pki", "broker", server=True)
        self.log = workdir / "mosquitto.log"
        self.config = workdir / "mosquitto.conf"
        (workdir / "data").mkdir(exist_ok=True)
        self.config.write_text(
            f"user {getpass.getuser()}\nper_listener_settings false\n"
            f"persistence {str(persistence).lower()}\npersistence_location {workdir / 'data'}/\n"
            f"autosave_interval 1\nautosave_on_changes {str(save_every_change).lower()}\n"
            f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
            f"max_queued_messages 10000\nset_tcp_nodelay true\n"
            f"listener {self.port} 127.0.0.1\nprotocol mqtt\n"
            f"cafile {self.ca.cert}\ncertfile {self.server.cert}\nkeyfile {self.server.key}\n"
            f"require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def client_cert(self, name: str) -> pki.CertFiles:
        """Issue a client certificate (CN = `name`) signed by this broker's CA."""
        return pki.issue(self.ca, self.workdir / "pki", name)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections."""
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(
                    f"mosquitto exited at start ({self._proc.returncode}): {err}"
                    f"{self.log.read_text() if self.log.exists() else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} in {timeout_s} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, so it saves its persistence file) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def kill(self) -> None:
        """Kill the broker outright (SIGKILL: no last save), as a power cut would."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    @property
    def persistence_file(self) -> Path:
        """Where mosquitto keeps its sessions and retained messages."""
        return self.workdir / "data" / "mosquitto.db"

    def restart(self) -> None:
        """Stop and start again on the same port, keeping persisted sessions."""
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
