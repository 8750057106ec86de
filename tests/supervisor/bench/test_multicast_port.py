"""Reserved ports for loopback multicast buses: shared by our buses, taken by nobody else."""

from __future__ import annotations

import socket

import can
import pytest

from supervisor.bench.multicast_port import reserve_multicast_port
from supervisor.vehicle.can_source import LOOPBACK_HOP_LIMIT

GROUP = "239.74.163.9"


def _bus(port: int) -> can.BusABC:
    return can.Bus(
        interface="udp_multicast", channel=GROUP, port=port, hop_limit=LOOPBACK_HOP_LIMIT
    )


def test_a_reserved_port_is_refused_to_an_ordinary_bind() -> None:
    port = reserve_multicast_port()
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with other, pytest.raises(OSError, match="in use"):
        other.bind(("", port))


def test_buses_share_a_reserved_port_and_do_not_hear_another() -> None:
    ours, theirs = reserve_multicast_port(), reserve_multicast_port()
    assert ours != theirs
    tx, rx, elsewhere = _bus(ours), _bus(ours), _bus(theirs)
    try:
        tx.send(can.Message(arbitration_id=0x100, data=b"\x01", is_extended_id=False))
        heard = rx.recv(timeout=2.0)
        assert heard is not None and heard.arbitration_id == 0x100
        # The same group on another port: nothing (python-can binds every group to a port).
        assert elsewhere.recv(timeout=0.2) is None
    finally:
        for bus in (tx, rx, elsewhere):
            bus.shutdown()
