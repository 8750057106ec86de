"""``parkmesh check-config`` and a bad config at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.vehicle.config import DATA_DIR


def test_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('[vehicle]\nsource = "scenario"\n[sandbox]\nmodels = []\n')
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: OK"


def test_a_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[policy]\nsettle_s = 1\nsoc_floor_percent = 10\n")
    assert main(["check-config", str(path)]) == 78
    assert capsys.readouterr().err.strip() == (
        f"parkmesh: {path}:3: [policy] policy.soc_floor_percent: must be at least 20.0, not 10.0"
    )
    assert main(["check-config", "--json", str(path)]) == 78
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and result["line"] == 3
    assert result["key"] == "policy.soc_floor_percent"


def test_files_the_config_names_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        (DATA_DIR / "reference_mapping.toml")
        .read_text()
        .replace('signal = "PM_doorFrontLeft"', 'signal = "PM_doorFL"')
    )
    path = tmp_path / "parkmesh.toml"
    path.write_text(f'[vehicle]\nsource = "can"\n[vehicle.can]\nmapping = "{mapping}"\n')
    assert main(["check-config", str(path)]) == 78
    err = capsys.readouterr().err
    assert f"{mapping}:" in err and "has no signal 'PM_doorFL'" in err


def test_a_model_that_is_not_provisioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(f'[vehicle]\nsource = "scenario"\n[sandbox]\nmodels_dir = "{tmp_path}"\n')
    assert main(["check-config", str(path)]) == 78
    err = capsys.readouterr().err
    assert "[sandbox] sandbox.models: model 'all-MiniLM-L6-v2' is not provisioned in" in err


def test_the_daemon_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[vehicle]\nsource = "scenario"\n[daemon]\nshutdown_grace_s = "soon"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78
    assert proc.stderr.strip() == (
        f"parkmesh: {path}:4: [daemon] daemon.shutdown_grace_s: must be a number, "
        "not the string 'soon'"
    )


def test_help_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from supervisor.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"run", "check-config", "demo", "vehicle", "bench"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: parkmesh" in capsys.readouterr().out
