"""The bus policy in packaging/dbus/, loaded into a real dbus-daemon, with callers of other uids.

The test creates the groups parkmesh-owner and parkmesh-tech and three users (one in each
group, one in neither) when they are absent, runs the fake daemon as root, and calls it from
processes that drop to each user before they start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parkmesh_policy import NEEDS_ROOT, SYSTEM_DEFAULTS, ensure_users, run_as
from parkmesh_private_bus import private_bus

FAKE_DAEMON = Path(__file__).with_name("parkmesh_fake_daemon.py")

CALLER = """
import json, sys
from supervisor.api import client
results = {}
for method, *args in json.loads(sys.argv[1]):
    try:
        if method == "Get":
            client.get_property(args[1])
        else:
            client.call(method, *args)
        results[method] = "ok"
    except client.ApiCallError as exc:
        results[method] = exc.name
print(json.dumps(results))
"""

CALLS = [
    ["GetStatus"],
    ["Get", "org.parkmesh.Supervisor1", "Phase"],
    ["SetPreference", "charge_floor_percent", "55"],
    ["Drain"],
    ["Pause", 0.0],
    ["Unpause"],
    ["Resume"],
    ["TestStop"],
]

# The CLI as another user: prints its exit status and what it wrote.
CLI = """
import contextlib, io, json, sys
from supervisor.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "out": out.getvalue(), "err": err.getvalue()}))
"""

pytestmark = NEEDS_ROOT


@pytest.fixture
def policy_bus() -> Iterator[str]:
    ensure_users()
    with private_bus(SYSTEM_DEFAULTS, world=True) as address:
        daemon = subprocess.Popen(
            [sys.executable, str(FAKE_DAEMON), "--bus", address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert daemon.stdout is not None
            assert daemon.stdout.readline().strip() == "ready"
            yield address
        finally:
            daemon.communicate(input="", timeout=10)


def _call_as(user: str, address: str) -> dict[str, str]:
    result: dict[str, str] = json.loads(run_as(user, address, CALLER, json.dumps(CALLS)))
    return result


DENIED = "org.freedesktop.DBus.Error.AccessDenied"


def test_policy_separates_outsider_owner_and_technician(policy_bus: str) -> None:
    outsider = _call_as("pm-outsider", policy_bus)
    assert set(outsider.values()) == {DENIED}, outsider

    owner = _call_as("pm-owner", policy_bus)
    assert owner == {
        "GetStatus": "ok",
        "Get": "ok",
        "SetPreference": "ok",
        "Drain": DENIED,
        "Pause": "ok",
        "Unpause": "ok",
        "Resume": DENIED,
        "TestStop": DENIED,
    }

    tech = _call_as("pm-tech", policy_bus)
    assert tech == {
        "GetStatus": "ok",
        "Get": "ok",
        "SetPreference": DENIED,
        "Drain": "ok",
        "Pause": "ok",
        "Unpause": "ok",
        "Resume": "ok",
        "TestStop": "ok",
    }


# The technician's alone: re-reading the configuration and restarting a worker.
TECHNICIANS = [["ReloadConfig"], ["RestartWorker", "minilm-l6"]]


def test_reload_and_restart_worker_are_the_technicians_only(policy_bus: str) -> None:
    def calls_as(user: str) -> dict[str, str]:
        result: dict[str, str] = json.loads(
            run_as(user, policy_bus, CALLER, json.dumps(TECHNICIANS))
        )
        return result

    assert calls_as("pm-outsider") == {"ReloadConfig": DENIED, "RestartWorker": DENIED}
    assert calls_as("pm-owner") == {"ReloadConfig": DENIED, "RestartWorker": DENIED}
    assert calls_as("pm-tech") == {"ReloadConfig": "ok", "RestartWorker": "ok"}


def _cli_as(user: str, address: str, *argv: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run_as(user, address, CLI, *argv))
    return result


def test_owner_resume_lifts_the_pause_and_leaves_the_technicians_drain(policy_bus: str) -> None:
    assert _cli_as("pm-owner", policy_bus, "pause", "--until", "06:30")["rc"] == 0
    assert _cli_as("pm-owner", policy_bus, "drain")["rc"] == 1  # the technician's only
    assert _cli_as("pm-tech", policy_bus, "drain")["rc"] == 0
    why = _cli_as("pm-owner", policy_bus, "why")["out"]
    assert "paused by the owner until 06:30" in why and "(drained)" in why

    owner = _cli_as("pm-owner", policy_bus, "resume")
    assert owner["rc"] == 0
    assert "lifted the owner's pause" in owner["out"]
    assert "the technician's drain stays" in owner["err"] and "AccessDenied" not in owner["out"]

    tech = _cli_as("pm-tech", policy_bus, "resume")
    assert (tech["rc"], tech["out"].split(";")[0]) == (0, "resumed: lifted the technician's drain")
    assert "nothing to resume" in _cli_as("pm-owner", policy_bus, "resume")["out"]
