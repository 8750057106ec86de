"""The notify protocol on a real datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from supervisor.daemon.systemd import Notifier


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = Notifier(
            {
                "NOTIFY_SOCKET": str(path),
                "WATCHDOG_USEC": "3000000",
                "WATCHDOG_PID": str(os.getpid()),
            }
        )
        assert notifier.enabled and notifier.watchdog_s == 3.0
        notifier.ready("eligible")
        notifier.watchdog()
        notifier.stopping()
        assert [sock.recv(100) for _ in range(3)] == [
            b"READY=1\nSTATUS=eligible",
            b"WATCHDOG=1",
            b"STOPPING=1\nSTATUS=stopping",
        ]
        notifier.close()


def test_abstract_socket_and_no_systemd() -> None:
    name = f"parkmesh-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.status("hello")
        notifier.close()
        assert sock.recv(100) == b"STATUS=hello"
    quiet = Notifier({})
    assert not quiet.enabled and quiet.watchdog_s is None
    quiet.ready("nothing happens")  # no socket, no error


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_s is None
