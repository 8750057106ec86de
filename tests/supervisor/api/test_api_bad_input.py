"""Bad input of every kind, sent by a real client to the API on a private dbus-daemon: refused
with InvalidArgs and a bounded message, logged in one bounded line without a traceback, and
the API goes on; replies that could grow past the bus's limit are cut and say so.

The service runs in-process over `RealPartsFacade`: the daemon's own facade, thermal's own
validation, the daemon's own log ring on the root logger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType
from parkmesh_fake_daemon import write_fixed_ledger
from parkmesh_real_parts import RealPartsFacade, call

from supervisor.api import names
from supervisor.api.bounds import MAX_ERROR_CHARS, MAX_LOG_REPLY_BYTES, MAX_REPLY_BYTES
from supervisor.daemon.log_ring import LogRing
from supervisor.daemon.logs import MAX_RECORD_CHARS

OBJ = DBusAddress(names.OBJECT_PATH, bus_name=names.BUS_NAME, interface=names.INTERFACE)
PROPS = OBJ.with_interface(names.PROPERTIES_INTERFACE)
MB = 2**20
# An error message is at most MAX_ERROR_CHARS, plus the cut marker.
ERROR_BOUND = MAX_ERROR_CHARS + 40
MethodReturn = MessageType.method_return


def refusal(reply: Any) -> tuple[str, str]:
    assert reply.header.message_type == MessageType.error, reply.body
    return reply.header.fields[HeaderFields.error_name], reply.body[0]


def assert_logged_without_traceback(ring: LogRing) -> None:
    lines = ring.tail(1000)
    assert lines, "nothing was logged"
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines
    assert all(len(line) <= MAX_RECORD_CHARS + 40 for line in lines)
    assert all("\n" not in line for line in lines)


async def assert_still_serving(bus: str) -> None:
    reply = await call(bus, OBJ, "Explain", None)
    assert reply.header.message_type == MessageType.method_return


async def test_a_3_mb_preference_value_is_refused_short_and_logged_short(
    bus_address: str, real_parts: RealPartsFacade
):
    huge = "9" * (3 * MB)
    name, text = refusal(
        await call(bus_address, OBJ, "SetPreference", "ss", "charge_floor_percent", huge)
    )
    assert name == names.ERROR_INVALID_ARGS
    assert text.startswith("value: charge_floor_percent: too long (3145728 characters"), text
    assert "[cut, 3145728 chars in all]" in text and len(text) <= ERROR_BOUND
    # A value short enough to reach thermal, full of control characters: echoed escaped.
    sneaky = "5\n<3>parkmesh: forged line\x1b[31m\u202e" + "x" * 400
    name, text = refusal(await call(bus_address, OBJ, "SetPreference", "ss", "departures", sneaky))
    assert name == names.ERROR_INVALID_ARGS and text.startswith("value: "), text
    assert len(text) <= ERROR_BOUND and text.isprintable(), text
    assert real_parts.preferences()["charge_floor_percent"] == 50.0  # nothing was applied
    assert_logged_without_traceback(real_parts.ring)
    refused = [line for line in real_parts.ring.tail(100) if "refused" in line]
    assert len(refused) == 2 and all(len(line) < 2 * ERROR_BOUND for line in refused)
    (lines,) = (await call(bus_address, OBJ, "GetLog", "u", 200)).body
    assert sum(len(line) for line in lines) < MAX_LOG_REPLY_BYTES
    assert any("refused" in line for line in lines)
    await assert_still_serving(bus_address)


CURTAILMENTS = {
    "far-future start": '{"level": 1, "duration_s": 60, "start": "9999-12-31T23:59:59-12:00"}',
    "start in 3000": '{"level": 1, "duration_s": 60, "start": "3000-01-01T00:00:00"}',
    "start near year 1": '{"level": 1, "duration_s": 60, "start": "0001-01-02T00:00:00+14:00"}',
    "nested brackets": "[" * 100_000 + "]" * 100_000,
    "nested within the size limit": '{"level":' + "[" * 5000 + "]" * 5000 + "}",
    "NaN duration": '{"level": 1, "duration_s": NaN}',
    "NaN level": '{"level": NaN, "duration_s": 60}',
    "infinite limit": '{"import_limit_kw": Infinity, "duration_s": 60}',
    "negative duration": '{"level": 1, "duration_s": -60}',
    "negative start offset": '{"level": 1, "duration_s": 60, "start_in_s": -1e300}',
    "huge integer": '{"level": 1, "duration_s": 1' + "0" * 400 + "}",
    "huge id": json.dumps({"level": 1, "duration_s": 60, "id": "x" * (3 * MB)}),
    "long id": json.dumps({"level": 1, "duration_s": 60, "id": "x" * 1000}),
    "control characters in the id": json.dumps({"level": 1, "duration_s": 60, "id": "a\nb"}),
    "huge start": json.dumps({"level": 1, "duration_s": 60, "start": "2026" * 4000}),
    "huge unknown key": json.dumps({"k" * 10_000: 1, "level": 1, "duration_s": 60}),
    "start of the wrong type": '{"level": 1, "duration_s": 60, "start": [2026]}',
    "not an object": "[1, 2, 3]",
}


@pytest.mark.parametrize("request_json", CURTAILMENTS.values(), ids=CURTAILMENTS.keys())
async def test_malformed_curtailments_are_invalid_args(
    bus_address: str, real_parts: RealPartsFacade, request_json: str
):
    name, text = refusal(await call(bus_address, OBJ, "AddCurtailment", "s", request_json))
    assert name == names.ERROR_INVALID_ARGS, text
    assert text.startswith("request_json: "), text
    assert len(text) <= ERROR_BOUND and text.isprintable(), text
    assert real_parts.budget_service.curtailments == ()
    assert_logged_without_traceback(real_parts.ring)
    await assert_still_serving(bus_address)


async def test_a_good_curtailment_is_still_accepted(bus_address: str, real_parts: RealPartsFacade):
    reply = await call(
        bus_address, OBJ, "AddCurtailment", "s", '{"level": 2, "duration_s": 600, "id": "dr-1"}'
    )
    assert reply.header.message_type == MethodReturn, reply.body
    assert json.loads(reply.body[0])["id"] == "dr-1"
    assert len(real_parts.budget_service.curtailments) == 1


# Every method that takes arguments, with arguments of the right types but absurd sizes.
ABSURD: list[tuple[DBusAddress, str, str, tuple[Any, ...], str]] = [
    (OBJ, "SetPreference", "ss", ("n" * MB, "55"), names.ERROR_INVALID_ARGS),
    (OBJ, "SetPreference", "ss", ("charge_floor_percent", "x" * MB), names.ERROR_INVALID_ARGS),
    (OBJ, "AddCurtailment", "s", ("{" * MB,), names.ERROR_INVALID_ARGS),
    (OBJ, "LedgerStatement", "s", ("2026-11" * 100_000,), names.ERROR_INVALID_ARGS),
    (OBJ, "LedgerYear", "u", (2**32 - 1,), names.ERROR_INVALID_ARGS),
    (OBJ, "LedgerRecent", "u", (2**32 - 1,), names.ERROR_INVALID_ARGS),
    (PROPS, "Get", "ss", ("i" * MB, "Phase"), names.ERROR_INVALID_ARGS),
    (PROPS, "Get", "ss", (names.INTERFACE, "p" * MB), names.ERROR_UNKNOWN_PROPERTY),
    (PROPS, "GetAll", "s", ("i" * MB,), names.ERROR_INVALID_ARGS),
    (PROPS, "Set", "ssv", (names.INTERFACE, "p" * MB, ("s", "x")), names.ERROR_PROPERTY_READ_ONLY),
]


@pytest.mark.parametrize(
    ("address", "member", "sig", "body", "error"),
    ABSURD,
    ids=[f"{m}-{i}" for i, (_, m, *_) in enumerate(ABSURD)],
)
async def test_every_method_refuses_absurd_arguments_briefly(
    bus_address: str,
    real_parts: RealPartsFacade,
    tmp_path: Path,
    address: DBusAddress,
    member: str,
    sig: str,
    body: tuple[Any, ...],
    error: str,
):
    real_parts.ledger = tmp_path / "ledger.sqlite"
    write_fixed_ledger(real_parts.ledger)
    name, text = refusal(await call(bus_address, address, member, sig, *body))
    assert name == error, text
    assert len(text) <= ERROR_BOUND and text.isprintable(), text
    assert_logged_without_traceback(real_parts.ring)
    await assert_still_serving(bus_address)


async def test_get_log_stays_under_the_bus_limit_and_says_it_was_cut(
    bus_address: str, real_parts: RealPartsFacade, monkeypatch: pytest.MonkeyPatch
):
    # A facade whose log is not bounded (the API must not rely on the ring): 200 lines of 3 MB.
    lines = [f"line {i} " + "z" * (3 * MB) for i in range(200)]
    monkeypatch.setattr(real_parts, "log_lines", lambda limit: lines[-limit:])
    reply = await call(bus_address, OBJ, "GetLog", "u", 200)
    assert reply.header.message_type == MethodReturn, reply.body
    (got,) = reply.body
    assert sum(len(line.encode()) for line in got) <= MAX_LOG_REPLY_BYTES
    assert got[0].startswith("[") and "older line(s) left out" in got[0], got[0][:200]
    assert got[-1].startswith("line 199 ") and "[cut, 3145737 chars in all]" in got[-1]


@pytest.mark.slow
async def test_large_snapshots_are_cut_and_say_so(bus_address: str, real_parts: RealPartsFacade):
    row = {"id": 0, "model": "m" * 500, "state": "serving", "confinement": "confined"}
    real_parts.overrides["workers"] = [{**row, "id": i} for i in range(1500)]  # ~850 KB
    real_parts.overrides["uplink"] = {"connected": True, "last_error": "e" * (6 * MB)}
    status = await call(bus_address, OBJ, "GetStatus", None)
    assert status.header.message_type == MethodReturn, status.body
    text = status.body[0]
    assert len(text) <= MAX_REPLY_BYTES
    decoded = json.loads(text)
    assert decoded["truncated"]["limit_bytes"] == MAX_REPLY_BYTES
    assert decoded["truncated"]["cut"] == ["uplink.last_error: text cut (6291456 chars)"]
    assert decoded["uplink"]["last_error"].endswith("e...[cut, 6291456 chars in all]")
    assert len(decoded["workers"]) == 1500  # what fits is kept whole
    everything = await call(bus_address, PROPS, "GetAll", "s", names.INTERFACE)
    values = everything.body[0]
    assert sum(len(v[1]) for v in values.values() if v[0] == "s") <= MAX_REPLY_BYTES
    workers = json.loads(values["WorkersJson"][1])
    assert workers[-1]["truncated"]["cut"] == [f"(top): {len(workers) - 1} of 1500 items kept"]
    assert 0 < len(workers) - 1 < 1500 and workers[0] == row
    assert "truncated" in json.loads(values["UplinkJson"][1])
