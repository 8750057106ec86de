"""Bad input from the owner, the technician and another user, through the shipped bus policy
to the daemon's real input handling (`parkmesh_real_parts`, its own process logging to stderr
through the daemon's handler): refused with InvalidArgs and a short message where the policy
lets the call through, AccessDenied where it does not; GetLog stays small; the daemon's log has
no traceback and stays small; the API goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parkmesh_policy import NEEDS_ROOT, SYSTEM_DEFAULTS, ensure_users, run_as
from parkmesh_private_bus import private_bus

from supervisor.api import names
from supervisor.api.bounds import MAX_ERROR_CHARS, MAX_LOG_REPLY_BYTES

pytestmark = NEEDS_ROOT

REAL_PARTS = Path(__file__).with_name("parkmesh_real_parts.py")
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
INVALID = names.ERROR_INVALID_ARGS

# Runs as the caller: each call's error name (or "ok"), its message's length and whether the
# message is one printable line; GetLog's total size and whether any line holds a traceback.
CALLER = """
import json, sys
from supervisor.api import client
MB = 2**20
calls = {
    "pref-3mb": ("SetPreference", "charge_floor_percent", "9" * (3 * MB)),
    "pref-name-1mb": ("SetPreference", "n" * MB, "55"),
    "curtail-nested": ("AddCurtailment", "[" * 100_000 + "]" * 100_000),
    "curtail-nan": ("AddCurtailment", '{"level": 1, "duration_s": NaN}'),
    "curtail-negative": ("AddCurtailment", '{"level": 1, "duration_s": -5}'),
    "curtail-far-future": ("AddCurtailment", '{"level": 1, "duration_s": 60, "start": "9000-01-01"}'),
    "curtail-huge-id": ("AddCurtailment", json.dumps({"level": 1, "duration_s": 9, "id": "i" * 9000})),
    "month-1mb": ("LedgerStatement", "2026-11" * 150_000),
}
out = {}
for key, (method, *args) in calls.items():
    try:
        client.call(method, *args)
        out[key] = ["ok", 0, True]
    except client.ApiCallError as exc:
        out[key] = [exc.name, len(exc.message), exc.message.isprintable()]
try:
    (lines,) = client.call("GetLog", 200)
    out["log"] = [sum(len(l.encode()) for l in lines), any("Traceback" in l for l in lines)]
except client.ApiCallError as exc:
    out["log"] = [exc.name, False]
try:
    out["alive"] = bool(client.call("Explain"))
except client.ApiCallError as exc:
    out["alive"] = exc.name
print(json.dumps(out))
"""


@pytest.fixture
def real_parts_bus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ensure_users()
    log = tmp_path / "daemon.log"
    with private_bus(SYSTEM_DEFAULTS, world=True) as address, log.open("w") as err:
        daemon = subprocess.Popen(
            [sys.executable, str(REAL_PARTS), "--bus", address, "--state", str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert daemon.stdout is not None
            assert daemon.stdout.readline().strip() == "ready", log.read_text()
            yield address, log
        finally:
            daemon.communicate(input="", timeout=20)


def _calls_as(user: str, address: str) -> dict[str, list[object]]:
    result: dict[str, list[object]] = json.loads(run_as(user, address, CALLER, timeout=120))
    return result


def _assert_refused_short(result: dict[str, list[object]], keys: list[str], name: str) -> None:
    for key in keys:
        error, length, printable = result[key]
        assert error == name, (key, result[key])
        assert isinstance(length, int) and length <= MAX_ERROR_CHARS + 40 and printable, key


OWNER_CALLS = ["pref-3mb", "pref-name-1mb"]
TECH_CALLS = [
    "curtail-nested",
    "curtail-nan",
    "curtail-negative",
    "curtail-far-future",
    "curtail-huge-id",
]


def test_bad_input_by_role_is_refused_short_and_logged_short(real_parts_bus: tuple[str, Path]):
    address, log = real_parts_bus
    owner = _calls_as("pm-owner", address)
    _assert_refused_short(owner, OWNER_CALLS, INVALID)  # the owner's to set
    _assert_refused_short(owner, TECH_CALLS, DENIED)  # the technician's
    _assert_refused_short(owner, ["month-1mb"], INVALID)  # both may read the ledger
    tech = _calls_as("pm-tech", address)
    _assert_refused_short(tech, TECH_CALLS, INVALID)
    _assert_refused_short(tech, OWNER_CALLS, DENIED)
    _assert_refused_short(tech, ["month-1mb"], INVALID)
    for result in (owner, tech):
        size, traceback = result["log"]
        assert isinstance(size, int) and 0 < size <= MAX_LOG_REPLY_BYTES and not traceback
        assert result["alive"] is True
    outsider = _calls_as("pm-outsider", address)
    _assert_refused_short(outsider, [*OWNER_CALLS, *TECH_CALLS, "month-1mb"], DENIED)
    assert outsider["log"][0] == DENIED and outsider["alive"] == DENIED
    written = log.read_text()
    assert "Traceback" not in written and " ERROR " not in written, written[-2000:]
    # Each refusal the policy let through is logged in one short line (owner: 2 preferences
    # and the month; technician: 5 curtailments and the month); AccessDenied never reaches us.
    refused = [line for line in written.splitlines() if " refused: " in line]
    assert len(refused) == len(OWNER_CALLS) + len(TECH_CALLS) + 2, refused
    assert max(len(line) for line in refused) < 2 * (MAX_ERROR_CHARS + 40)
    assert len(written) < 64 * 1024, len(written)
