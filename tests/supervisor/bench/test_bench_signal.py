"""``parkmesh bench signal`` runs end to end and reports its figures (not a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_signal_reports_json(clean_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor.cli",
            "bench",
            "signal",
            "--trials",
            "30",
            "--frames",
            "3000",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == result["sent"] == 30
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["frames_per_s"] > 0 and result["model3_frames_per_s"] > 0
    assert result["decoder"]["malformed"] == 0
