"""Helpers for the Pilot tests: the screen as text, waiting for what it shows, running apps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from tui.app import ParkmeshApp
from tui.source import DaemonSource

SIZE = (80, 24)
AS_OF = "03:00:00"


def fixed_clock() -> str:
    """The TUI's clock in the tests: always `AS_OF` (screens and snapshots stay the same)."""
    return AS_OF


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(
    pilot: Pilot[None], what: Callable[[], bool], label: str, timeout: float = 5.0
) -> None:
    """Pause the app until `what()` holds; fail naming `label` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not what():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {label}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def wait_text(pilot: Pilot[None], text: str, timeout: float = 5.0) -> None:
    """Pause the app until the screen shows `text`."""
    await wait_for(pilot, lambda: text in screen_text(pilot.app), repr(text), timeout)


def run(
    client: DaemonSource, scenario: Callable[[ParkmeshApp, Pilot[None]], Awaitable[None]]
) -> None:
    """Run the app with `client`; once it has connected and loaded the ledger, `scenario`."""

    async def main() -> None:
        app = ParkmeshApp(client, clock=fixed_clock)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: app.state.connected and app.state.ledger is not None,
                "the first connection",
            )
            await scenario(app, pilot)

    asyncio.run(main())
