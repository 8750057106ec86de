"""The CLI's DBus client against a bus that accepts the connection and then never answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.api import client


@pytest.fixture
def wedged_bus(tmp_path: Path) -> Iterator[str]:
    """A unix socket that completes the SASL handshake, as dbus-daemon does, then stays mute."""
    path = tmp_path / "wedged-bus"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        held.append(conn)
        data = b""
        while b"BEGIN\r\n" not in data:
            chunk = conn.recv(1024)
            if not chunk:
                return
            data += chunk
            if b"AUTH" in chunk:
                conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        # The client's Hello arrives now and is never answered.

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"unix:path={path}"
    server.close()
    for conn in held:
        conn.close()
    thread.join(timeout=5)


def test_a_bus_that_never_says_hello_fails_the_call_in_time(
    wedged_bus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "TIMEOUT_S", 0.5)
    monkeypatch.delenv("PARKMESH_BUS_ADDRESS", raising=False)
    started = time.monotonic()
    with pytest.raises(client.DaemonUnreachable, match="did not answer within"):
        client.call_json("GetBudget", bus=wedged_bus)
    assert time.monotonic() - started < 5
