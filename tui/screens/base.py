"""`DaemonScreen`: the frame every view shares (tabs, banner, body, notice line, footer).

Screens never call the daemon: the app hands each state down through `show`, and a screen
asks for it with the `Ready` message when it is mounted or shown again.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from tui.state import DaemonState
from tui.widgets.banner import ConnectionBanner
from tui.widgets.nav import NavBar


class DaemonScreen(Screen[None]):
    """Base of the eight views. Subclasses set `MODE` and implement `compose_body`/`show_body`."""

    MODE = ""

    class Ready(Message):
        """The screen is shown and wants the current state."""

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield ConnectionBanner(id="banner")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield Static(id="notice")
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        """The widgets of this view."""
        return ()

    def on_mount(self) -> None:
        self.post_message(self.Ready())

    def on_screen_resume(self) -> None:
        self.post_message(self.Ready())

    def show(self, state: DaemonState) -> None:
        """Show `state` (called by the app; attributes down)."""
        if not self.is_mounted:
            return
        try:
            banner = self.query_one(ConnectionBanner)
        except NoMatches:
            # Still composing, or being removed by a mode switch: a screen that is composed
            # posts `Ready` and is shown then.
            return
        banner.show_state(state)
        # While the daemon is away the values are dimmed: the banner says how old they are.
        self.query_one("#body").set_class(not state.connected, "stale")
        self.query_one("#notice", Static).update(state.notice)
        self.show_body(state)

    def show_body(self, state: DaemonState) -> None:
        """Update this view's widgets from `state`."""
