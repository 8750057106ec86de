"""``parkmesh bench stop-under-load`` runs end to end against a real daemon (not a timed test)."""

from __future__ import annotations

import os

import pytest
import trio

from supervisor.bench.stop_under_load import measure

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="the daemon's worker runs confined, as root"),
]


def test_stop_under_load_reports_both_scenarios() -> None:
    result = trio.run(measure, 12, 2_000, 1.0, 7)
    for scenario in ("idle", "busy"):
        figures = result[scenario]
        assert figures["sent"] == 12
        assert figures["n"] >= 10  # a trial is lost only when the stop was not paired
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        flag = figures["frame_to_flag"]
        assert 0 < flag["p50_ms"] <= figures["p50_ms"]
        assert figures["loop_longest_step_ms"] > 0
    assert result["idle"]["kills"] == 0
    # The large messages came the real way (broker, paho, the codec off the loop), and the
    # guardian wrote stops of its own.
    assert result["messages_opened"] >= 1
    assert sum(result[s]["flag_written_first_by"].get("guardian", 0) for s in ("idle", "busy"))
    assert result["loop_longest_step_ms"] == result["busy"]["loop_longest_step_ms"]
