"""systemd's notify protocol: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

Speaks the datagram protocol directly (no libsystemd): one ``sendto`` per message on the
socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Without
that variable, as under a terminal or in tests, every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

LOG = logging.getLogger(__name__)

# Variables that describe this process to systemd and must not leak into workers.
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends notify messages to systemd, if it is listening."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):
            self._address = b"\0" + address[1:].encode()
        elif address.startswith("/"):
            self._address = address
        self._sock: socket.socket | None = None
        if self._address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_s: float | None = None
        if usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6

    @property
    def enabled(self) -> bool:
        """Whether systemd is listening."""
        return self._sock is not None

    def notify(self, *fields: str) -> None:
        """Send ``KEY=VALUE`` lines; failures are logged, never raised (systemd may be gone)."""
        if self._sock is None or self._address is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            LOG.warning("cannot notify systemd: %s", exc)

    def ready(self, status: str) -> None:
        """Tell systemd the daemon serves."""
        self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """Update the one-line status ``systemctl status`` shows."""
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        """Ping the watchdog."""
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        """Tell systemd a shutdown has begun."""
        self.notify("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
