"""Uplink: the link to the dispatcher."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widget import Widget

from tui.format import DASH, current, number
from tui.screens.base import DaemonScreen
from tui.state import DaemonState
from tui.widgets.facts import Facts


class UplinkScreen(DaemonScreen):
    """Connection, tier, round-trip time, outbox depth."""

    MODE = "uplink"

    def compose_body(self) -> Iterable[Widget]:
        yield Facts(id="uplink-facts")

    def show_body(self, state: DaemonState) -> None:
        up = state.get("UplinkJson") or {}
        connected = up.get("connected")
        word = "connected" if connected else "disconnected" if connected is False else DASH
        style = "bold green" if connected else "bold red"
        link = Text(current(word, state.stale()), style=style if not state.stale() else "yellow")
        refused = up.get("refused")
        refusals = (
            ", ".join(f"{n} {code}" for code, n in sorted(refused.items())) or "none"
            if isinstance(refused, dict)
            else DASH
        )
        self.query_one(Facts).show_facts(
            [
                ("Link", link),
                ("Broker", str(up.get("broker") or DASH)),
                (
                    "Link type",
                    f"{up.get('link') or DASH}{', metered' if up.get('metered') else ''}",
                ),
                ("Tier", str(up.get("tier") or DASH)),
                ("Round trip", number(up.get("rtt_ms"), " ms", 0)),
                ("Outbox", str(up.get("outbox", DASH))),
                ("Refused", refusals),
            ]
        )
