"""The fleet simulation: plausible numbers, and redundancy costs compute."""

from __future__ import annotations

import json

import pytest

from supervisor.cli import main
from uplink.sim.fleet import Fleet, FleetParams, simulate


def test_rows_are_plausible_and_waste_grows_with_k() -> None:
    params = FleetParams(nodes=500, hours=24, jobs_per_node_hour=0.1)
    fleet = Fleet(params)
    rows = [simulate(params, k, fleet) for k in (1, 2, 3)]
    for row in rows:
        assert 0.9 <= row["completion"] <= 1.0
        assert 0 < row["p50_s"] <= row["p99_s"]
    assert rows[0]["wasted"] < rows[1]["wasted"] < rows[2]["wasted"]
    assert rows[0]["jobs"] == rows[2]["jobs"]  # one job stream for every k


def test_fleet_windows_are_well_formed() -> None:
    fleet = Fleet(FleetParams(nodes=200, hours=24))
    assert all(s < e for s, e in zip(fleet.starts_list, fleet.ends_list, strict=True))
    assert fleet.keys_list == sorted(fleet.keys_list)


def test_command_prints_one_row_per_k(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["simulate-fleet", "--nodes", "300", "--hours", "12", "--redundancy", "4", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["k"] for r in out["rows"]] == [1, 2, 3, 4]
    assert {"k", "completion", "p50_s", "p99_s", "wasted"} <= set(out["rows"][0])


def test_command_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-fleet", "--nodes", "0"]) == 2
    assert "--nodes" in capsys.readouterr().err
