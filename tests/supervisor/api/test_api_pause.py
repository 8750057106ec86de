"""Pause and Unpause over a private dbus-daemon into the daemon's real facade and hot path:
a refused time is InvalidArgs naming ``until_unix``, a pause is a soft stop with its reason,
Unpause says whether there was one to lift."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType
from parkmesh_real_parts import RealPartsFacade
from parkmesh_real_parts import call as real_parts_call

from supervisor.api import names

OBJ = DBusAddress(names.OBJECT_PATH, bus_name=names.BUS_NAME, interface=names.INTERFACE)


async def call(bus: str, member: str, sig: str | None, *body: Any) -> Any:
    return await real_parts_call(bus, OBJ, member, sig, *body)


def pause_reasons(facade: RealPartsFacade) -> list[str]:
    return [r for r in facade.daemon.state().reasons if r.startswith("paused by the owner")]


@pytest.mark.parametrize(
    ("until", "words"),
    [(math.nan, "must be 0 or a unix time"), (-5.0, "must be 0"), (1e9, "not in the future")],
)
async def test_a_refused_time_is_invalid_args_naming_the_argument(
    bus_address: str, real_parts: RealPartsFacade, until: float, words: str
) -> None:
    reply = await call(bus_address, "Pause", "d", until)
    assert reply.header.message_type == MessageType.error
    assert reply.header.fields[HeaderFields.error_name] == names.ERROR_INVALID_ARGS
    assert reply.body[0].startswith("until_unix: ") and words in reply.body[0]
    assert real_parts.daemon.state().paused_until is None


async def test_pause_then_unpause_through_the_bus(
    bus_address: str, real_parts: RealPartsFacade
) -> None:
    until = time.time() + 7200
    reply = await call(bus_address, "Pause", "d", until)
    assert reply.header.message_type == MessageType.method_return
    at = time.strftime("%H:%M", time.localtime(until))
    assert pause_reasons(real_parts) == [f"paused by the owner until {at}"]
    assert real_parts.daemon.state().paused_until == until
    assert (await call(bus_address, "Pause", "d", 0.0)).header.message_type == (
        MessageType.method_return
    )
    assert pause_reasons(real_parts) == ["paused by the owner until resumed"]
    assert (await call(bus_address, "Unpause", None)).body == (True,)
    assert pause_reasons(real_parts) == []
    assert (await call(bus_address, "Unpause", None)).body == (False,)
