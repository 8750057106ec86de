"""The other process of ``parkmesh bench signal``: a reference car on a udp_multicast CAN bus.

It keeps every periodic frame of the reference car flowing at its nominal rate and, at random
moments, opens the driver door for one frame. For each door-open frame it prints a line of two
CLOCK_MONOTONIC nanosecond readings (`read_openings`): just before ``bus.send`` (the trial's
start) and when the frame reached the bus, the kernel's receive timestamp of its own copy
(multicast loopback, SO_TIMESTAMPNS, taken as the frame enters the loopback device), or -1 if
that copy was not seen. A frame that reached the bus long after the clock reading was held up
in the sender itself: on a shared VM its virtual CPU descheduled by the host (ftrace showed
14-20 ms gaps with no event at all on that CPU, the frame sent only at their end).

Usage: ``python -m supervisor.bench.signal_sender GROUP PORT TRIALS SEED [OPEN_MS GAP_MIN_MS
GAP_MAX_MS]``. Frames are sent with a multicast TTL of 0: they never leave the machine.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass

import can

from .reference_car import PERIODS, ReferenceCar

# Before the first trial the car must look parked and closed for long enough to be admitted.
WARMUP_S = 0.6
# How long the sender looks for its own copy of a door frame.
ECHO_WAIT_S = 0.05
# Random gap between door openings, and how long the door stays open.
GAP_MS = (4.0, 12.0)
OPEN_MS = 2.0


def command(
    group: str,
    port: int,
    trials: int,
    seed: int,
    open_ms: float = OPEN_MS,
    gap_ms: tuple[float, float] = GAP_MS,
) -> list[str]:
    """The command line that runs this sender (for `trio.run_process` or `subprocess`)."""
    return [
        *(sys.executable, "-m", "supervisor.bench.signal_sender", group, str(port)),
        *(str(trials), str(seed), str(open_ms), str(gap_ms[0]), str(gap_ms[1])),
    ]


# The sender plays an ECU, a controller of its own that sends when it means to. At normal
# priority a busy machine could preempt it between taking the trial's timestamp and the send,
# and the bench would time the sender's wait for a CPU. Below the stop path (10): on the CPU it
# shares with the stop thread, the frame's reader runs first, not the sender's next frames.
ECU_PRIORITY = 5


def play_the_ecu() -> None:
    """Run at real-time priority `ECU_PRIORITY` where permitted (else as it is)."""
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(ECU_PRIORITY))


@dataclass(frozen=True, slots=True)
class Opening:
    """One door-open frame as the sender saw it: monotonic ns before ``bus.send``, and when
    the frame reached the bus (-1: not seen)."""

    sent_ns: int
    on_bus_ns: int

    @property
    def to_bus_ms(self) -> float:
        """How long the frame took to reach the bus after the clock reading (the sender's own
        delay, before any receiver could see it); 0 when unknown."""
        return max(0.0, (self.on_bus_ns - self.sent_ns) / 1e6) if self.on_bus_ns >= 0 else 0.0


def read_openings(text: str) -> list[Opening]:
    """The openings in the sender's output (`main`'s lines), in order.

    Raises:
        ValueError: a line that is not two integers.
    """
    openings = []
    for line in text.splitlines():
        if line.strip():
            sent, on_bus = line.split()
            openings.append(Opening(int(sent), int(on_bus)))
    return openings


def _drain(bus: can.BusABC) -> None:
    """Read away what the bus's own socket holds (its own frames, looped back)."""
    while bus.recv(timeout=0) is not None:
        pass


def _on_bus_ns(bus: can.BusABC, sent: can.Message) -> int:
    """When `sent` reached the bus, in monotonic ns: the kernel's receive timestamp of its
    looped-back copy (wall clock) moved onto the monotonic clock; -1 if it does not show."""
    offset = time.time_ns() - time.monotonic_ns()
    deadline = time.monotonic() + ECHO_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        echo = bus.recv(timeout=left)
        if echo is None:
            break
        if echo.arbitration_id == sent.arbitration_id and echo.data == sent.data:
            return round(echo.timestamp * 1e9) - offset
    return -1


def _message(frame: tuple[int, bytes]) -> can.Message:
    return can.Message(arbitration_id=frame[0], data=frame[1], is_extended_id=False, is_fd=False)


def _send(bus: can.BusABC, frame: tuple[int, bytes]) -> None:
    bus.send(_message(frame))


def _run_for(bus: can.BusABC, car: ReferenceCar, due: dict[str, float], seconds: float) -> None:
    """Send the periodic frames that fall due during the next `seconds`."""
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        for name, at in due.items():
            if at <= now:
                _send(bus, car.frame(name))
                due[name] = now + PERIODS[name]
        time.sleep(min(0.0005, max(0.0, end - time.monotonic())))


def main(argv: list[str]) -> int:
    """Run the trials; returns the exit status."""
    play_the_ecu()
    group, port, trials, seed = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    open_ms = float(argv[4]) if len(argv) > 4 else OPEN_MS
    gap_ms = (float(argv[5]), float(argv[6])) if len(argv) > 6 else GAP_MS
    rng = random.Random(seed)
    car = ReferenceCar()
    bus = can.Bus(interface="udp_multicast", channel=group, port=port, hop_limit=0)
    try:
        due = {name: 0.0 for name in PERIODS}
        _run_for(bus, car, due, WARMUP_S)
        for _ in range(trials):
            _run_for(bus, car, due, rng.uniform(*gap_ms) / 1000)
            car.body["PM_doorFrontLeft"] = "OPEN"
            message = _message(car.frame("PM_BodyStatus"))  # built before the clock starts
            _drain(bus)  # so that its copy is found at once
            sent_ns = time.monotonic_ns()
            bus.send(message)
            print(sent_ns, _on_bus_ns(bus, message), flush=True)
            _run_for(bus, car, due, open_ms / 1000)
            car.body["PM_doorFrontLeft"] = "CLOSED"
            _send(bus, car.frame("PM_BodyStatus"))
            due["PM_BodyStatus"] = time.monotonic() + PERIODS["PM_BodyStatus"]
    finally:
        bus.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
