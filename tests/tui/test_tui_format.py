"""Values as a technician reads them: the gear as a letter, paths cut from the front by whole
components, units on temperatures, money at its real precision with its currency."""

from __future__ import annotations

from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.format import DASH, gear, money, short_path, signal


def test_gear_in_vss_encoding() -> None:
    assert [gear(v) for v in (126, 127, 0, -1, -2, 1, 3)] == ["P", "D", "N", "R", "R", "D1", "D3"]
    assert gear(None) == DASH
    assert gear(99) == "? (99)"


def test_paths_lose_their_leading_components_whole() -> None:
    path = "Cabin.Door.Row1.DriverSide.IsOpen"
    assert short_path(path, 40) == path
    assert short_path(path, 26) == "…/Row1.DriverSide.IsOpen"
    assert short_path(path, 20) == "…/DriverSide.IsOpen"
    assert short_path(path, 5) == "…/IsO"


def test_signals_carry_their_units() -> None:
    assert signal("Cabin.HVAC.AmbientAirTemperature", 18.5) == "18.5 °C"
    assert signal("Speed", 0.0) == "0 km/h"
    assert signal("Powertrain.TractionBattery.StateOfCharge.Displayed", 72.0) == "72 %"
    assert signal("Powertrain.Transmission.SelectedGear", 126) == "P"
    assert signal("Cabin.Door.Row1.DriverSide.IsOpen", False) == "no"
    assert signal("Speed", None) == DASH


def test_money_keeps_its_precision_and_currency() -> None:
    assert money(0.002, "USD") == "0.002 USD"
    assert money(96.4, "USD") == "96.40 USD"
    assert money(1.125, "EUR") == "1.125 EUR"
    assert money(0, "USD") == "0.00 USD"
    assert money(12, "") == "12.00"
    assert money(-0.5, "USD") == "-0.50 USD"
    assert money(None, "USD") == DASH


def test_the_screens_show_gear_units_and_money(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await pilot.press("2")
        await wait_text(pilot, "Powertrain.Transmission.SelectedGear    P ")
        text = screen_text(app)
        assert "126" not in text
        assert "72 %" in text and "0 km/h" in text
        assert "…/Seat.Row1.DriverSide.OccupancyStatus" in text
        await pilot.press("1")
        await wait_text(pilot, "gpu 61°C")
        await pilot.press("7")
        await wait_text(pilot, "energy cost 1.125 USD")
        client.apply({"job_finished": "job-new"})
        await wait_text(pilot, "0.05")

    run(client, scenario)
