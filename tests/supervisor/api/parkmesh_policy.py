"""The shipped bus policy on a private dbus-daemon, and callers run as other users.

`SYSTEM_DEFAULTS` is what a system bus allows before any service's policy, with the policy in
packaging/dbus/ included. `ensure_users` creates the groups parkmesh-owner and parkmesh-tech
and three users (one in each group, one in neither) when they are absent; `run_as` runs a
Python script as one of them. All of it needs root (`NEEDS_ROOT` skips otherwise).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "packaging" / "dbus" / "org.parkmesh.Supervisor1.conf"

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

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("dbus-daemon") is None,
    reason="needs root, useradd and dbus-daemon to run callers as other users",
)


def ensure_users() -> None:
    """Create the parkmesh groups and the three test users where they are missing."""
    for group in ("parkmesh-owner", "parkmesh-tech"):
        subprocess.run(["groupadd", "-f", "--system", group], check=True)
    for user, group in USERS.items():
        try:
            pwd.getpwnam(user)
        except KeyError:
            extra = ["-G", group] if group else []
            command = ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin"]
            subprocess.run([*command, *extra, user], check=True)


def interpreter() -> str:
    """A Python the other users may execute (a venv under a private home is not)."""
    real = Path(sys.executable).resolve()
    if all(os.stat(p).st_mode & 0o001 for p in real.parents):
        return sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return shutil.which(name, path="/usr/local/bin:/usr/bin:/bin") or "/usr/bin/python3"


def run_as(user: str, address: str, script: str, *args: str, timeout: float = 30) -> str:
    """Run `script` (Python source) as `user`, its client on `address`; returns its stdout.

    The venv's pure-Python packages are on PYTHONPATH. Fails the test if the script fails.
    """
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
        [interpreter(), "-c", script, *args],
        env=env,
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
