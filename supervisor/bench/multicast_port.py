"""A UDP port for one loopback multicast CAN bus, held so that no other process shares it.

python-can's udp_multicast binds ``("", port)`` and, as Linux does by default
(``IP_MULTICAST_ALL``), then receives the datagrams of every group joined on the machine that
are sent to that port: two buses on one port hear each other's frames whatever their groups.
Benchmarks and tests run side by side (pytest-xdist workers, a bench beside the suite), so a
port picked from a range or a seed can be another process's at the same moment, and a test car
with its door open then stops a bench that never opened one.

`reserve_multicast_port` asks the kernel for a port nobody has bound and keeps a socket on it
for the life of the process. That socket is bound without ``SO_REUSEADDR`` and only then marked
reusable: the buses (which set ``SO_REUSEADDR``) may join it, while every other ``bind`` to port
0 on the machine skips it. It joins no group and hears nothing (``IP_MULTICAST_ALL`` off).
"""

from __future__ import annotations

import atexit
import socket
import threading
from typing import Final

# <linux/in.h>; the socket module does not name it.
IP_MULTICAST_ALL: Final = getattr(socket, "IP_MULTICAST_ALL", 49)

_held: list[socket.socket] = []
_lock = threading.Lock()


@atexit.register
def _let_go() -> None:
    with _lock:
        for sock in _held:
            sock.close()
        _held.clear()


def reserve_multicast_port() -> int:
    """A UDP port that only this process's udp_multicast buses will use until it exits.

    Raises:
        OSError: the kernel has no free port (the ephemeral range is exhausted).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    except OSError:
        sock.close()
        raise
    with _lock:
        _held.append(sock)
    port: int = sock.getsockname()[1]
    return port
