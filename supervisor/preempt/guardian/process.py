"""The guardian process: the vehicle's hard stops, decided and written outside the daemon.

The daemon's stop thread shares its interpreter's GIL with everything else the daemon does;
a normal-priority thread that holds the GIL (a long C call: a multi-MiB copy in paho, a
sqlite step) and is then preempted by other processes keeps the stop thread waiting however
high its priority (docs/stop-path.md). The guardian has an interpreter of its own: it reads
the same vehicle source (its own CAN socket or DBus connection), decodes, evaluates the same
hard-stop rules on its own stop thread at real-time priority, and writes HARD on every
worker's page itself (`GuardianBoard`). It only ever stops; admission stays the daemon's.

Started by the daemon (`supervisor.preempt.guardian.link`) as
``python -m supervisor.preempt.guardian.process FD`` with one end of a SOCK_SEQPACKET pair;
the first datagram brings the configuration and the status page (`wire`). It ends when
the daemon closes the channel, and dies with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import pickle
import queue
import signal
import socket
import sys
import threading

import trio

from sandbox.stop_page import StopPage
from supervisor.config.schema import Config
from supervisor.daemon.realtime import enter_realtime
from supervisor.daemon.sources import build_source
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy
from supervisor.vehicle.state import VehicleState

from . import wire
from .board import GuardianBoard

LOG = logging.getLogger("parkmesh.guardian")

_PR_SET_PDEATHSIG = 1
# The real-time priority of the guardian's threads that are not on the stop path.
GUARDIAN_BASE_PRIORITY = 1


def guardian_policy(config: Config) -> AdmissionPolicy:
    """The daemon's policy without what is not the vehicle's: no battery floor (the budget's
    business, a soft stop), so that the guardian lets go once the car is safe and settled."""
    policy = AdmissionPolicy(config.policy)
    policy.use_budget()
    return policy


async def serve(sock: socket.socket, config: Config, own: StopPage) -> None:
    """Guard until the daemon closes the channel. Cancellation: the source and board end."""

    # The stop thread never writes to the socket itself: a daemon slow to read (its GIL is
    # what the guardian exists for) would fill the socket and block the stop path. A thread
    # of its own sends, in order, at the guardian's base priority (below the stop path).
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send_all() -> None:
        if config.daemon.realtime_priority > 0:
            enter_realtime(GUARDIAN_BASE_PRIORITY)
        while (data := outbox.get()) is not None:
            # The daemon gone, the read below ends the process.
            with contextlib.suppress(OSError):
                sock.send(data)

    teller = threading.Thread(target=send_all, name="parkmesh-guardian-tell", daemon=True)
    teller.start()
    tell = outbox.put

    board = GuardianBoard(
        own,
        priority=config.daemon.realtime_priority,
        on_stop=lambda ns: tell(b"stop %d" % ns),
        on_free=lambda: tell(b"free"),
        on_ack=lambda ns: tell(b"ack %d" % ns),
    )
    hotpath = HotPath(VehicleState(), guardian_policy(config), board)
    source = build_source(config, hotpath)
    board.start()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(source.run)
            tell(b"ready")
            while True:
                data, fds = await trio.to_thread.run_sync(
                    _receive_realtime, sock, config, abandon_on_cancel=True
                )
                if not data:
                    break
                apply(board, data, fds)
            nursery.cancel_scope.cancel()
    finally:
        board.close()
        outbox.put(None)


def _receive_realtime(sock: socket.socket, config: Config) -> tuple[bytes, list[int]]:
    """`wire.receive` on one of trio's worker threads, raised to the guardian's base priority
    first (each thread must take it itself: SCHED_RESET_ON_FORK gives new threads the normal
    policy)."""
    if config.daemon.realtime_priority > 0:
        enter_realtime(GUARDIAN_BASE_PRIORITY)
    return wire.receive(sock)


def apply(board: GuardianBoard, data: bytes, fds: list[int]) -> None:
    """Apply one control datagram from the daemon (``add``, ``pid``, ``del``)."""
    verb, _, rest = data.partition(b" ")
    args = rest.split()
    if verb == b"add" and fds:
        board.add(int(args[0]), StopPage.attach(fds[0]))
    elif verb == b"pid":
        board.set_pid(int(args[0]), int(args[1]), args[2] == b"1")
    elif verb == b"del":
        board.remove(int(args[0]))
    else:
        LOG.error("unknown control message %r", data[:40])


def main(argv: list[str]) -> int:
    """Entry point; returns the exit status."""
    logging.basicConfig(
        level=logging.WARNING, format="parkmesh-guardian: %(levelname)s %(message)s"
    )
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    sock = socket.socket(fileno=int(argv[0]))
    data, fds = wire.receive(sock)
    if not data.startswith(b"hello ") or len(fds) != 1:
        LOG.error("the daemon sent no configuration")
        return 2
    config: Config = pickle.loads(data[len(b"hello ") :])
    if config.daemon.realtime_priority > 0:
        # Every thread of the guardian runs at real-time priority: none can hold this
        # interpreter's GIL while the kernel runs a normal process instead, which is what
        # would make the stop thread wait (docs/stop-path.md). None of them computes: they
        # wait on sockets and queues. SCHED_RESET_ON_FORK gives every new thread the normal
        # policy, so each thread takes it itself: this one here, the teller and the thread
        # that reads the channel as they start, the stop thread and the confirmer at their
        # own priorities. (Measured before: the teller, left at normal priority and woken by
        # every stop, held the GIL while preempted and the confirmer's acknowledgement of a
        # frozen worker waited 3 ms for it, ftrace.)
        enter_realtime(GUARDIAN_BASE_PRIORITY)
    trio.run(serve, sock, config, StopPage.attach(fds[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
