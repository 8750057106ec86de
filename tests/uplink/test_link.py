"""Link type and metering from a NetworkManager on a real (private) dbus-daemon."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from uplink.link import NM_BUS, LinkInfo, read_networkmanager

FALLBACK = LinkInfo("wifi", False, "config")


@pytest.fixture
def network_manager(bus_address: str) -> Iterator[dict[str, tuple[str, object]]]:
    """A stand-in NetworkManager answering Properties.Get; the test sets the values."""
    props: dict[str, tuple[str, object]] = {
        "PrimaryConnectionType": ("s", "gsm"),
        "Metered": ("u", 1),
    }
    conn = open_dbus_connection(bus=bus_address)
    conn.send_and_get_reply(message_bus.RequestName(NM_BUS))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                msg = conn.receive(timeout=0.05)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            if msg.header.fields.get(HeaderFields.member) == "Get" and msg.body[1] in props:
                conn.send(new_method_return(msg, "v", (props[msg.body[1]],)))
            else:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield props
    stop.set()
    thread.join()
    conn.close()


def test_cellular_metered_link_is_read(
    network_manager: dict[str, tuple[str, object]], bus_address: str
) -> None:
    assert read_networkmanager(FALLBACK, bus=bus_address) == LinkInfo(
        "cellular", True, "networkmanager"
    )
    network_manager["PrimaryConnectionType"] = ("s", "802-11-wireless")
    network_manager["Metered"] = ("u", 4)  # guessed not metered
    assert read_networkmanager(FALLBACK, bus=bus_address) == LinkInfo(
        "wifi", False, "networkmanager"
    )


def test_no_networkmanager_gives_none(bus_address: str) -> None:
    assert read_networkmanager(FALLBACK, timeout_s=0.5, bus=bus_address) is None


def test_no_bus_gives_none(tmp_path: Path) -> None:
    assert read_networkmanager(FALLBACK, bus=f"unix:path={tmp_path}/nothing") is None
