"""The guardian's control channel: short datagrams on a SOCK_SEQPACKET socket pair.

Daemon to guardian: ``hello`` (the configuration, pickled, with the status page's memfd),
``add KEY`` (a worker's stop page memfd), ``pid KEY PID FREEZE``, ``del KEY``.
Guardian to daemon: ``ready``, ``stop NS`` (it wrote a hard stop at CLOCK_MONOTONIC NS),
``ack NS`` (it confirmed a frozen worker idle), ``free`` (it let go). Both ends are this
project's own processes, parent and child: the
pickle comes from the daemon that started the guardian.
"""

from __future__ import annotations

import array
import socket
from typing import Final

MAX_MESSAGE: Final = 1 << 20
MAX_FDS: Final = 4


def send(sock: socket.socket, data: bytes, fds: tuple[int, ...] = ()) -> None:
    """Send one datagram, with `fds` attached (SCM_RIGHTS). Raises OSError."""
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """Receive one datagram and the descriptors attached; ``b""`` when the peer is gone."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    return data, list(fds)


def fds_of(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors in `recvmsg` ancillary data (for trio sockets)."""
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)
