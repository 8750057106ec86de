"""The Overview's "Daemon loop" row: what the loop monitor reports, in words."""

from __future__ import annotations

from tui.screens.overview import SLOW_STEP_MS, loop_text

LOOP = {
    "running": True,
    "longest_step_ms": 31.0,
    "longest_step_task": "uplink",
    "window_longest_step_ms": 0.8,
    "window_max_lag_ms": 0.6,
}


def test_the_row_shows_the_last_window_and_the_worst() -> None:
    text = loop_text(LOOP)
    assert str(text) == "step 0.80 ms, lag 0.60 ms; worst step 31.0 ms (uplink)"
    assert str(getattr(text, "style", "")) == ""


def test_a_slow_loop_is_highlighted() -> None:
    text = loop_text({**LOOP, "window_longest_step_ms": SLOW_STEP_MS + 1})
    assert str(getattr(text, "style", "")) == "yellow"


def test_a_daemon_without_a_monitor_says_not_measured() -> None:
    assert str(loop_text({"running": False})) == "not measured"
    assert str(loop_text(None)) == "not measured"
