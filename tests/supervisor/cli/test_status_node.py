"""``parkmesh why`` and ``parkmesh status`` name the node: its kind and its source."""

from __future__ import annotations

from typing import Any

from supervisor.cli.status import format_overview, node_text, overview_facts

BATTERY = "ParkSim HB-10 (SN4711) at 192.0.2.7:502"


def _status(**node: Any) -> dict[str, Any]:
    return {
        "phase": "not eligible",
        "reasons": ["grid outage: the battery's energy is for the house"],
        "hard_stop": True,
        "draining": False,
        "vehicle": [],
        "budget": {"soc_percent": 80.0, "floor_percent": 20.0},
        "earnings": {},
        **node,
    }


def test_why_names_the_kind_and_its_source_first() -> None:
    facts = overview_facts(_status(node_kind="home-battery", node_source=BATTERY))
    assert (facts["node_kind"], facts["node_source"]) == ("home-battery", BATTERY)
    rows = format_overview(facts)
    assert next(iter(rows)) == "node"
    assert rows["node"] == f"home battery, {BATTERY}"
    assert rows["why not"] == "grid outage: the battery's energy is for the house"


def test_each_kind_reads_in_words() -> None:
    assert node_text("robot", "UPower and org.parkmesh.Robot1 on unix:path=/run/robot") == (
        "robot, UPower and org.parkmesh.Robot1 on unix:path=/run/robot"
    )
    assert node_text("car", "") == "car"
    assert node_text("", "") == "unknown"


def test_a_daemon_that_does_not_say_is_shown_as_unknown() -> None:
    """An older daemon's answer has no node: the row says so instead of guessing a car."""
    rows = format_overview(overview_facts(_status()))
    assert rows["node"] == "unknown"
