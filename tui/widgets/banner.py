"""`ConnectionBanner`: a red line while the daemon is not reachable, hidden otherwise."""

from __future__ import annotations

from textual.widgets import Static

from tui.state import DaemonState


class ConnectionBanner(Static):
    """Says that the daemon is gone and that the TUI is reconnecting."""

    def show_state(self, state: DaemonState) -> None:
        """Show or hide the banner for `state`."""
        self.display = not state.connected
        if not state.connected:
            self.update(
                f"⚠ parkmesh daemon not reachable on {state.bus} — reconnecting…\n  {state.problem}"
            )
