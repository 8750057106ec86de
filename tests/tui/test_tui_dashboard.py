"""The overview as a dashboard within 80x24: state and reasons, charge, power and what limits
it, temperatures, workers, the uplink, and the last stops and jobs the client reported."""

from __future__ import annotations

from memory_client import MemoryClient
from parkmesh_tui_helpers import run, screen_text, wait_text
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.state import HISTORY_KEPT


def test_the_overview_shows_the_whole_node(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        await wait_text(pilot, "72.0 %  (floor 50 %)  target 80 %  runway 1 h 30 min")
        text = screen_text(app)
        assert "950 W allowed" in text
        assert "battery 24.5°C  cabin 18°C  gpu 61°C" in text
        assert "w0 serving" in text
        assert "connected, tier interactive, RTT 23 ms, refused —" in text
        assert "1.25 USD today, 96.40 USD this month" in text
        assert "Last stops (this session)" in text and "Last jobs (this session)" in text
        client.extend("BudgetJson", {"binding": ["temperature:gpu", "floor"]})
        await wait_text(pilot, "950 W allowed, limited by temperature:gpu, floor")
        client.extend("BudgetJson", {"binding": []})
        await wait_text(pilot, "950 W allowed, not limited")
        client.extend("UplinkJson", {"link": "wifi", "refused": {"bad_signature": 2, "stale": 1}})
        await wait_text(pilot, "connected over wifi, tier interactive, RTT 23 ms, refused 3")
        client.apply({"phase": "not eligible", "reasons": ["driver door open"]})
        await wait_text(pilot, "driver door open")

    run(client, scenario)


def test_the_last_stops_and_jobs_are_a_short_history(client: MemoryClient) -> None:
    async def scenario(app: ParkmeshApp, pilot: Pilot[None]) -> None:
        client.stop("driver door open", 2.5)
        await wait_text(pilot, "03:00:00 driver door open   2.50 ms")
        await pilot.press("t", "y")
        await wait_text(pilot, "03:00:00 test stop          3.25 ms")
        client.apply({"job_finished": "job-41"})  # seen running: its model and run time
        await wait_text(pilot, "03:00:00 minilm-l6  ok         1500 ms")
        client.apply({"job_finished": "job-x"})  # never seen: no model, no time
        await wait_text(pilot, "03:00:00 ?          ok            — ms")
        for i in range(HISTORY_KEPT + 1):
            client.stop(f"gear {i}", float(i))
        await wait_text(pilot, f"gear {HISTORY_KEPT}")
        text = screen_text(app)
        assert "driver door open   2.50" not in text and "gear 0" not in text
        assert len(app.state.stops) == HISTORY_KEPT
        # Newest first, and the whole dashboard still within 80x24.
        assert text.index(f"gear {HISTORY_KEPT}") < text.index("gear 1")
        assert "Daemon loop" in text and "q Quit" in text

    run(client, scenario)
