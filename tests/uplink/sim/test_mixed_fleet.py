"""A mixed fleet: cars, home batteries and docked robots, each kind with its own availability,
reported per kind; the car-only default stays as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supervisor.cli import main
from uplink.sim.fleet import Fleet, FleetParams, simulate
from uplink.sim.kinds import (
    DAY,
    HOUR,
    HomeBatteryPattern,
    RobotPattern,
    home_battery_windows,
    mix_counts,
    parse_mix,
    robot_windows,
)

MIX = "car=80,home-battery=15,robot=5"


def test_a_mix_is_parsed_and_counted_to_the_fleet() -> None:
    mix = parse_mix(MIX)
    assert mix == (("car", 80.0), ("home-battery", 15.0), ("robot", 5.0))
    assert mix_counts(mix, 1000) == [("car", 800), ("home-battery", 150), ("robot", 50)]
    assert sum(c for _, c in mix_counts(parse_mix("car=1,robot=1,home-battery=1"), 100)) == 100
    for bad, message in [
        ("car=80,boat=20", "'boat=20' is not KIND=WEIGHT"),
        ("car=80,car=20", "car is given twice"),
        ("car=much", "not a number"),
        ("car=-1", ">= 0"),
        ("car=0", "add up to nothing"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_mix(bad)


def _share_by_hour(starts: np.ndarray, ends: np.ndarray, count: int, hour: float) -> float:
    """The share of nodes available at `hour` on day 0."""
    t = hour * HOUR
    return float(((starts <= t) & (ends > t)).sum()) / count


def test_a_home_battery_lends_nights_and_sunny_middays() -> None:
    rng = np.random.default_rng(3)
    w = home_battery_windows(400, 2, rng, HomeBatteryPattern())
    assert (w.ends > w.starts).all()
    assert _share_by_hour(w.starts, w.ends, 400, 2.0) > 0.7  # night
    assert 0.3 < _share_by_hour(w.starts, w.ends, 400, 12.5) < 0.8  # sunny days only
    assert _share_by_hour(w.starts, w.ends, 400, 19.0) < 0.05  # the evening peak is the house's
    # Grid outages cut windows that end unheard (the router is down with the grid).
    assert (~w.fast_end).any()


def test_an_outage_removes_its_span() -> None:
    pattern = HomeBatteryPattern(outage_rate_h=1.0, outage_min_s=1800.0, outage_max_s=1800.0)
    w = home_battery_windows(50, 1, np.random.default_rng(4), pattern)
    # Every window is a piece of a night or a midday no longer than those.
    assert ((w.ends - w.starts) < 10 * HOUR).all()
    assert (~w.fast_end).sum() > 20


def test_a_robot_is_available_docked_between_tasks() -> None:
    rng = np.random.default_rng(5)
    w = robot_windows(200, 2, rng, RobotPattern())
    assert (w.ends > w.starts).all() and w.fast_end.all()  # a task is heard at once
    night = _share_by_hour(w.starts, w.ends, 200, 3.0)
    shift = _share_by_hour(w.starts, w.ends, 200, 11.0)
    assert night > 0.85 and 0.4 < shift < 0.85, (night, shift)
    # Windows of one robot never overlap: its tasks lie between them.
    for robot in range(20):
        mine = np.sort(w.starts[w.owners == robot])
        ends = np.sort(w.ends[w.owners == robot])
        assert (mine[1:] >= ends[:-1]).all()
    assert w.starts.min() >= -DAY


def test_a_mixed_fleet_reports_each_kind() -> None:
    params = FleetParams(nodes=400, hours=24, jobs_per_node_hour=0.1, mix=parse_mix(MIX))
    fleet = Fleet(params)
    assert fleet.keys_list == sorted(fleet.keys_list)
    summary = fleet.kind_summary(params.hours)
    assert [k for k in summary] == ["car", "home-battery", "robot"]
    assert [summary[k]["nodes"] for k in summary] == [320, 60, 20]
    for kind in summary.values():
        assert 0 < kind["available_share"] < 1 and kind["windows"] > 0
    rows = [simulate(params, k, fleet) for k in (1, 2)]
    for row in rows:
        by_kind = row["by_kind"]
        assert set(by_kind) == {"car", "home-battery", "robot"}
        assert sum(v["wins"] for v in by_kind.values()) <= row["jobs"]
        for v in by_kind.values():
            assert v["copies"] >= v["wins"] + v["preempted"]
            assert 0.0 <= v["wasted"] <= 1.0
    assert rows[0]["by_kind"]["car"]["copies"] < rows[1]["by_kind"]["car"]["copies"]


def test_an_all_car_mix_is_the_default_fleet() -> None:
    plain = FleetParams(nodes=300, hours=12)
    mixed = FleetParams(nodes=300, hours=12, mix=parse_mix("car=1"))
    a, b = Fleet(plain), Fleet(mixed)
    assert a.keys_list == b.keys_list and a.rtt.tolist() == b.rtt.tolist()
    row_a, row_b = simulate(plain, 2, a), simulate(mixed, 2, b)
    assert "by_kind" not in row_a
    assert row_a == {k: v for k, v in row_b.items() if k != "by_kind"}


def test_command_with_a_mix_prints_each_kind(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate-fleet", "--nodes", "300", "--hours", "12", "--redundancy", "2"]
    assert main([*argv, "--mix", MIX, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mix"] == {"car": 240, "home-battery": 45, "robot": 15}
    assert set(out["kinds"]) == {"car", "home-battery", "robot"}
    assert set(out["rows"][0]["by_kind"]) == {"car", "home-battery", "robot"}
    assert main([*argv, "--mix", MIX]) == 0
    text = capsys.readouterr().out
    assert text.startswith("300 nodes (240 cars, 45 home batteries, 15 robots), 12 h")
    assert "  home-battery: available" in text and "  robot: wins" in text
    assert main([*argv, "--mix", "car=1,boat=2"]) == 2
    assert "--mix: 'boat=2' is not KIND=WEIGHT" in capsys.readouterr().err


def test_the_default_output_has_no_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-fleet", "--nodes", "200", "--hours", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"nodes", "hours", "windows", "elapsed_s", "rows"}
    assert "by_kind" not in out["rows"][0]
