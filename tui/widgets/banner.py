"""`ConnectionBanner`: a red line while the daemon is not reachable, hidden otherwise."""

from __future__ import annotations

from textual.widgets import Static

from tui.state import DaemonState


class ConnectionBanner(Static):
    """Says that the daemon is gone, that the TUI is reconnecting, and how old what is shown
    below it is (nothing stale passes for true)."""

    def show_state(self, state: DaemonState) -> None:
        """Show or hide the banner for `state`."""
        self.display = not state.connected
        if state.connected:
            return
        stale = state.stale()
        age = (
            f"every value shown is {stale}, when the daemon last answered"
            if stale.startswith("as of")
            else "no value is known yet"
        )
        self.update(
            f"⚠ parkmesh daemon not reachable on {state.bus} — reconnecting…\n"
            f"  {state.problem}\n  {age}"
        )
