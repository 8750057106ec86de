"""The Overview names the node first: its kind in words and its source, as the daemon says
them (``NodeKind``, ``NodeSource``), and a dash, never a guessed car, when it does not."""

from __future__ import annotations

from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.format import DASH, node

BATTERY = "ParkSim HB-10 (SN4711) at 192.0.2.7:502"


def test_the_overview_names_a_home_battery_and_a_robot(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await wait_text(pilot, "car, CAN can0 (Model3CAN.dbc)")
        client.apply(
            {
                "node_kind": "home-battery",
                "node_source": BATTERY,
                "phase": "not eligible",
                "reasons": ["grid outage: the battery's energy is for the house"],
            }
        )
        await wait_text(pilot, f"home battery, {BATTERY}")
        assert "grid outage" in screen_text(app)
        client.apply({"node_kind": "robot", "node_source": "UPower and org.parkmesh.Robot1"})
        await wait_text(pilot, "robot, UPower and org.parkmesh.Robot1")

    run(client, scenario)


def test_a_node_that_is_not_named_is_a_dash() -> None:
    assert node("", "") == DASH and node(None, None) == DASH
    assert node("robot", "") == "robot"
    assert node("home-battery", BATTERY) == f"home battery, {BATTERY}"
