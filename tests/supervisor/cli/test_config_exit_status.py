"""A bad configuration, through the real CLI: one line per problem, exit status 78, no traceback.

``parkmesh check-config`` and ``parkmesh run`` are started as subprocesses, as systemd and an
operator start them. The systemd unit has ``RestartPreventExitStatus=78`` (EX_CONFIG): a daemon
that exits 78 is not restarted in a loop on a file that cannot work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.supervisor.config.uplink_files import Raw, good_uplink, uplink_toml
from uplink import pki

EX_CONFIG = 78

# Each test starts the CLI twice (a second or more each, importing the daemon).
pytestmark = pytest.mark.slow


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _base(tmp_path: Path) -> str:
    """The sections a test config starts with: a car from a scenario, no models."""
    return (
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\nruntime_dir = "{tmp_path / "run"}"\n'
        '[vehicle]\nsource = "scenario"\n'
        "[sandbox]\nmodels = []\n"
    )


def _refused(path: Path, env: dict[str, str]) -> list[str]:
    """The stderr lines of both commands, which must agree; each exits 78 without a traceback."""
    check = _cli("check-config", str(path), env=env)
    run = _cli("run", "--config", str(path), env=env)
    for proc in (check, run):
        assert proc.returncode == EX_CONFIG, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert check.stderr == run.stderr
    lines = run.stderr.splitlines()
    assert lines and all(line.startswith(f"parkmesh: {path}:") for line in lines), lines
    return lines


def test_a_good_file_with_an_enabled_uplink(tmp_path: Path, clean_env: dict[str, str]) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(_base(tmp_path) + uplink_toml(good_uplink(tmp_path)))
    proc = _cli("check-config", str(path), env=clean_env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}: OK\n", "")
    proc = _cli("check-config", "--json", str(path), env=clean_env)
    assert json.loads(proc.stdout) == {"ok": True, "file": str(path)}


def _other_key(tmp_path: Path) -> str:
    return str(pki.issue(pki.make_ca(tmp_path / "other"), tmp_path / "other", "car2").key)


def _junk(tmp_path: Path) -> str:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    return str(junk)


# Each: (what changes in a good [uplink] table, the key named, how the problem reads).
BROKEN_UPLINKS = {
    "no node id": (lambda t: {"node_id": None}, "node_id", "is required when enabled = true"),
    "missing key file": (
        lambda t: {"key_file": str(t / "missing.key")},
        "key_file",
        "{tmp}/missing.key does not exist",
    ),
    "broker URL": (
        lambda t: {"broker_host": "mqtts://broker.example:8883"},
        "broker_host",
        "must be a host name, not a URL: 'mqtts://broker.example:8883' (the port goes in "
        "broker_port)",
    ),
    "port out of range": (
        lambda t: {"broker_port": 88830},
        "broker_port",
        "must be at most 65535, not 88830",
    ),
    "CA not PEM": (lambda t: {"ca_file": _junk(t)}, "ca_file", "is not a PEM certificate"),
    "CA is a folder": (lambda t: {"ca_file": str(t)}, "ca_file", "{tmp} is not a file"),
    "key of another cert": (
        lambda t: {"key_file": _other_key(t)},
        "key_file",
        "is not the private key of cert_file",
    ),
    "back-off upside down": (
        lambda t: {"reconnect_min_s": 10.0, "reconnect_max_s": 2.0},
        "reconnect_max_s",
        "must not be below reconnect_min_s (10), not 2",
    ),
    "nan ttl": (
        lambda t: {"result_ttl_s": Raw("nan")},
        "result_ttl_s",
        "must be a finite number, not nan",
    ),
    "unknown key": (
        lambda t: {"brokr_host": "x"},
        "brokr_host",
        "unknown key (did you mean 'broker_host'? known keys: ",
    ),
    "bad dispatcher key": (
        lambda t: {"dispatcher_public_key": "00" * 31},
        "dispatcher_public_key",
        f"dispatcher key: {'00' * 31!r} is not 64 hex digits of an Ed25519 key",
    ),
}


@pytest.mark.parametrize("case", BROKEN_UPLINKS)
def test_a_broken_uplink_is_refused_by_both_commands(
    case: str, tmp_path: Path, clean_env: dict[str, str]
) -> None:
    change, key, problem = BROKEN_UPLINKS[case]
    values = {**good_uplink(tmp_path), **change(tmp_path)}
    values = {k: v for k, v in values.items() if v is not None}
    path = tmp_path / "parkmesh.toml"
    text = _base(tmp_path) + uplink_toml(values)
    path.write_text(text)
    (line,) = _refused(path, clean_env)
    where = next(
        n
        for n, t in enumerate(text.splitlines(), 1)
        if t.startswith(f"{key} =") or (t == "[uplink]" and key == "node_id")
    )
    expected = f"parkmesh: {path}:{where}: [uplink] uplink.{key}: {problem.format(tmp=tmp_path)}"
    assert line.startswith(expected) if problem.endswith(": ") else line == expected


def test_nan_settle_time_and_floor_stop_the_daemon_at_start(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(_base(tmp_path) + "[policy]\nsettle_s = nan\nsoc_floor_percent = -inf\n")
    assert _refused(path, clean_env) == [
        f"parkmesh: {path}:9: [policy] policy.settle_s: must be a finite number, not nan",
        f"parkmesh: {path}:10: [policy] policy.soc_floor_percent: must be a finite number, not -inf",
    ]


def test_every_problem_of_every_section_is_listed_in_file_order(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(
        _base(tmp_path)
        + "[policy]\nrequired_signals = []\n"  # lines 8, 9
        + "[budget.gpu]\nwarn_c = 95\n"  # 10, 11
        + '[ledger]\ncurrency = "usd"\n'  # 12, 13
        + "[vehicle.scenario]\nspeed = inf\n"  # 14, 15
    )
    lines = _refused(path, clean_env)
    assert [line.split(": ", 3)[1:3] for line in lines] == [
        [f"{path}:9", "[policy] policy.required_signals"],
        [f"{path}:11", "[budget.gpu] budget.gpu.warn_c"],
        [f"{path}:13", "[ledger] ledger.currency"],
        [f"{path}:15", "[vehicle.scenario] vehicle.scenario.speed"],
    ]
    assert lines[1].endswith("must be below stop_c (90), not 95")
    assert "missing: Vehicle.Cabin.Door.Row1.DriverSide.IsOpen, " in lines[0]


def test_json_lists_every_problem(tmp_path: Path, clean_env: dict[str, str]) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(_base(tmp_path) + "[budget.cabin]\nstop_c = 30\n[ledger]\ncurrency = 'XXX'\n")
    proc = _cli("check-config", "--json", str(path), env=clean_env)
    assert proc.returncode == EX_CONFIG
    result = json.loads(proc.stdout)
    assert result["ok"] is False
    assert [(e["line"], e["section"], e["key"]) for e in result["errors"]] == [
        # warn_c is not written: the line of its table.
        (8, "budget.cabin", "budget.cabin.warn_c"),
        (11, "ledger", "ledger.currency"),
    ]
    assert (result["line"], result["key"]) == (8, "budget.cabin.warn_c")
    assert result["errors"][0]["problem"] == "must be below stop_c (30), not 40"


def test_a_problem_found_when_building_the_daemon_is_placed_too(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text(
        _base(tmp_path).replace("models = []", f'models = ["nope"]\nmodels_dir = "{tmp_path}"')
    )
    (line,) = _refused(path, clean_env)
    assert line.startswith(
        f"parkmesh: {path}:7: [sandbox] sandbox.models: model 'nope' is not provisioned in"
    )


def test_a_runtime_folder_that_cannot_exist(tmp_path: Path, clean_env: dict[str, str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = tmp_path / "parkmesh.toml"
    path.write_text(_base(tmp_path).replace(str(tmp_path / "run"), str(blocker / "run")))
    assert _refused(path, clean_env) == [
        f"parkmesh: {path}:3: [daemon] daemon.runtime_dir: cannot be created: {blocker} is not "
        "a folder"
    ]
