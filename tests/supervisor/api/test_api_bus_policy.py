"""The bus policy in packaging/dbus/, loaded into a real dbus-daemon, with callers of other uids.

The test creates the groups parkmesh-owner and parkmesh-tech and three users (one in each
group, one in neither) when they are absent, runs the fake daemon as root, and calls it from
processes that drop to each user before they start.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parkmesh_private_bus import private_bus

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "packaging" / "dbus" / "org.parkmesh.Supervisor1.conf"
FAKE_DAEMON = Path(__file__).with_name("parkmesh_fake_daemon.py")

# What a system bus allows before any service's policy: connect, talk to the bus, receive,
# answer; method calls to services are denied unless a service's policy allows them.
SYSTEM_DEFAULTS = f"""
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>{POLICY}</include>
"""

USERS = {"pm-outsider": None, "pm-owner": "parkmesh-owner", "pm-tech": "parkmesh-tech"}

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
    ["TestStop"],
]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("dbus-daemon") is None,
    reason="needs root, useradd and dbus-daemon to run callers as other users",
)


def _ensure_users() -> None:
    for group in ("parkmesh-owner", "parkmesh-tech"):
        subprocess.run(["groupadd", "-f", "--system", group], check=True)
    for user, group in USERS.items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            extra = ["-G", group] if group else []
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "-s",
                    "/usr/sbin/nologin",
                    *extra,
                    user,
                ],
                check=True,
            )


def _interpreter() -> str:
    # The callers run as other users: they need a Python they may execute (a venv under a
    # private home is not), with the venv's pure-Python packages on PYTHONPATH.
    real = Path(sys.executable).resolve()
    if all(os.stat(p).st_mode & 0o001 for p in real.parents):
        return sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return shutil.which(name, path="/usr/local/bin:/usr/bin:/bin") or "/usr/bin/python3"


@pytest.fixture
def policy_bus() -> Iterator[str]:
    _ensure_users()
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
    entry = pwd.getpwnam(user)
    groups = os.getgrouplist(user, entry.pw_gid)

    def drop() -> None:
        os.setgroups(groups)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {
        "PARKMESH_BUS_ADDRESS": address,
        "PYTHONPATH": f"{REPO}:{site}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [_interpreter(), "-c", CALLER, json.dumps(CALLS)],
        env=env,
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, str] = json.loads(out.stdout)
    return result


DENIED = "org.freedesktop.DBus.Error.AccessDenied"


def test_policy_separates_outsider_owner_and_technician(policy_bus: str):
    outsider = _call_as("pm-outsider", policy_bus)
    assert set(outsider.values()) == {DENIED}, outsider

    owner = _call_as("pm-owner", policy_bus)
    assert owner == {
        "GetStatus": "ok",
        "Get": "ok",
        "SetPreference": "ok",
        "Drain": DENIED,
        "TestStop": DENIED,
    }

    tech = _call_as("pm-tech", policy_bus)
    assert tech == {
        "GetStatus": "ok",
        "Get": "ok",
        "SetPreference": DENIED,
        "Drain": "ok",
        "TestStop": "ok",
    }
