"""``parkmesh demo``: the README's main job runs the scenario car and explains every stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_narrates_decisions_and_stop_latencies(clean_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "demo", "--speed", "4", "--json"],
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


@pytest.mark.slow
def test_ctrl_c_while_the_demo_starts_stops_it_cleanly(clean_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", "demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env,
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
