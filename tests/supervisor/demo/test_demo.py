"""``parkmesh demo``: the README's main job runs the scenario car and explains every stop."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder the confined worker's user can reach (pytest's own tmp_path sits
    below a folder only root may enter), as an owner's home folder would be."""
    path = Path(tempfile.mkdtemp(prefix="parkmesh-keep-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_demo_narrates_decisions_and_stop_latencies(
    clean_env: dict[str, str], open_tmp: Path
) -> None:
    kept = open_tmp / "car"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor.cli",
            "demo",
            "--speed",
            "4",
            "--json",
            "--keep",
            str(kept),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    events = [r["note"] for r in record if r["kind"] == "event"]
    assert events[0] == "arrives home and stops" and "drives away" in events
    decisions = [r for r in record if r["kind"] == "decision"]
    assert any(d["phase"] == "eligible" for d in decisions)
    stopping = [d for d in decisions if d["phase"] == "stopping"]
    assert {tuple(d["reasons"]) for d in stopping} >= {
        ("rear passenger door open",),
        ("driver door open",),
        ("speed: stale, no reading within 0.25 s",),
    }
    stops = [r for r in record if r["kind"] == "stop"]
    assert len(stops) == len(stopping)
    for stop in stops:
        # The stale speed is stopped by the clock: it has no reading to measure from.
        if stop["reading_to_flag_ms"] is not None:
            assert 0 <= stop["reading_to_flag_ms"] < 50
        assert stop["flag_to_idle_ms"] is not None
    assert any(s["reading_to_flag_ms"] is None for s in stops)
    # The car served: its jobs are in the record, each won or cancelled by the mesh.
    mesh = [r for r in record if r["kind"] == "mesh"]
    assert any(m["event"] == "job_done" for m in mesh)
    assert any(m["event"] == "result" and m["car"] == "scenario-car" for m in mesh)
    assert record[-1]["jobs"] > 0
    # The kept ledger has one row per job the car ran, each with the energy it spent.
    with sqlite3.connect(kept / "ledger.sqlite") as db:
        jobs = db.execute(
            "SELECT job_id, energy_wh, energy_method FROM entries WHERE kind = 'job'"
        ).fetchall()
    assert len(jobs) == len({job_id for job_id, _, _ in jobs}) >= record[-1]["jobs"]
    assert all(energy > 0 and method for _, energy, method in jobs), jobs
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor.cli",
            "ledger",
            "verify",
            "--ledger",
            str(kept / "ledger.sqlite"),
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_demo_keep_refuses_a_folder_with_files(clean_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite").write_text("an owner's real ledger")
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "demo", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
    )
    assert proc.returncode == 2
    assert proc.stdout.strip() == f"parkmesh: --keep {tmp_path}: must be a new or empty folder"
    assert (tmp_path / "ledger.sqlite").read_text() == "an owner's real ledger"


@pytest.mark.slow
def test_ctrl_c_while_the_demo_starts_stops_it_cleanly(clean_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env,
    )
    try:
        assert proc.stdout is not None
        # The title comes before the daemon starts its worker (which takes seconds).
        assert "parkmesh demo:" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert out.rstrip().endswith("parkmesh demo: interrupted while starting")
    assert "Traceback" not in err
