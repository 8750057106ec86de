"""Pairing door openings with stops and acknowledgements, and the figures (no event loop)."""

from __future__ import annotations

import pytest

from supervisor.bench.signal_sender import Opening, read_openings
from supervisor.bench.stop_timing import pair_trials, scenario_figures

MS = 1_000_000


def test_the_senders_lines_are_read_and_a_bad_one_refused() -> None:
    openings = read_openings("1000 1200\n\n5000 9005000\n7000 -1\n")
    assert openings == [Opening(1000, 1200), Opening(5000, 9005000), Opening(7000, -1)]
    assert openings[1].to_bus_ms == pytest.approx(9.0)
    assert openings[2].to_bus_ms == 0.0  # its copy not seen: counted as on time
    with pytest.raises(ValueError, match="values to unpack"):
        read_openings("1000\n")


def test_each_opening_pairs_with_the_first_writer_and_the_next_acknowledgement() -> None:
    sent = [Opening(100 * MS, 100 * MS + 20_000), Opening(200 * MS, 200 * MS + 30_000)]
    daemon = [(1, 1, 101 * MS), (1, 2, 203 * MS)]
    guardian = [100 * MS + MS // 2, 202 * MS]
    acks = [(1, 1, 102 * MS), (1, 2, 204 * MS)]
    first, second = pair_trials(sent, daemon, guardian, acks)
    assert (first.writer, first.flag_ms, first.idle_ms) == ("guardian", 0.5, 2.0)
    assert (second.writer, second.flag_ms, second.idle_ms) == ("guardian", 2.0, 4.0)


def test_a_held_up_sender_is_counted_apart_not_in_the_figures() -> None:
    on_time = [Opening(i * 100 * MS, i * 100 * MS + 50_000) for i in range(1, 10)]
    held_up = Opening(2000 * MS, 2014 * MS)  # its CPU taken away between clock and send
    stops = [(1, i, o.sent_ns + MS) for i, o in enumerate([*on_time, held_up])]
    acks = [(1, i, o.sent_ns + 2 * MS) for i, o in enumerate(on_time)] + [(1, 9, 2016 * MS)]
    result = scenario_figures(pair_trials([*on_time, held_up], stops, [], acks), 1.0)
    assert result["n"] == 9 and result["sent"] == 10 and result["sender_delayed"] == 1
    assert result["max_ms"] == 2.0 and result["flag_to_idle"]["max_ms"] == 1.0
    assert result["all_openings"]["n"] == 10 and result["all_openings"]["max_ms"] == 16.0
    assert result["flag_written_first_by"] == {"daemon": 9}


def test_an_opening_without_a_stop_is_not_a_figure() -> None:
    result = scenario_figures(pair_trials([Opening(MS, MS + 1000)], [], [], []), 1.0)
    assert result["n"] == 0 and result["p99_ms"] is None and result["sent"] == 1
