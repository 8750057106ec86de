"""``demo --node``: the real daemon and a confined worker lending a home battery or a robot,
each read over its real protocol; every hard stop is narrated with its latency."""

from __future__ import annotations

import pytest

from supervisor.demo.node_run import run_node_demo


@pytest.mark.slow
@pytest.mark.parametrize(
    ("node", "reasons"),
    [
        (
            "home-battery",
            {
                "grid outage: the battery's energy is for the house",
                "state of charge 80.0 % is at the backup reserve of 78 % the owner set"
                " (work stops 5 points above it)",
            },
        ),
        ("robot", {"robot took a task"}),
    ],
)
async def test_a_node_demo_narrates_its_hard_stops(node: str, reasons: set[str]) -> None:
    printer = await run_node_demo(node, speed=4.0, quiet=True, mesh=False)
    record = printer.record
    assert record[0]["node"] == node
    stopping = [r for r in record if r["kind"] == "decision" and r["phase"] == "stopping"]
    assert {reason for d in stopping for reason in d["reasons"]} >= reasons
    stops = [r for r in record if r["kind"] == "stop"]
    measured = [s["reading_to_flag_ms"] for s in stops if s["reading_to_flag_ms"] is not None]
    assert measured and all(0 <= ms < 50 for ms in measured), measured
    # The device going quiet at the end stops work too, naming the source.
    assert any("source" in reason for d in stopping for reason in d["reasons"]), stopping
    assert record[-1]["hard_stops"] == len(stops)
