"""The charge-floor dialog: a number checked here, then by the daemon, whose refusal is shown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from tui.limits import FLOOR_RANGE
from tui.screens.form import FormDialog

FLOOR_PREFERENCE = "charge_floor_percent"


class FloorDialog(FormDialog):
    """Asks for a new charge floor; the app applies it and answers with `refused` or closes."""

    NOTE_ID = "floor-error"

    class Submitted(Message):
        """The technician entered a well-formed percentage."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, current: float | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="floor-box"):
            lo, hi = FLOOR_RANGE
            yield Label(
                f"Charge floor, {lo:g} to {hi:g} %: compute never takes the battery below it"
            )
            now = "" if self.current is None else f"{self.current:g}"
            yield Input(value=now, placeholder="e.g. 55", id="floor-input")
            yield Static("Enter applies, Esc cancels", id="floor-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip().rstrip("%").strip()
        try:
            value = float(text)
        except ValueError:
            self.refused(f"value: not a number: {event.value!r}")
            return
        lo, hi = FLOOR_RANGE
        if not lo <= value <= hi:
            self.refused(f"value: the daemon takes {lo:g} to {hi:g} %, not {value:g}")
            return
        self.working("applying…")
        self.post_message(self.Submitted(text))
