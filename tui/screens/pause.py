"""The owner's pause dialog: compute paused now, until resumed or until a time of day."""

from __future__ import annotations

import datetime as dt

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from tui.screens.form import FormDialog


def pause_until(text: str, now: dt.datetime | None = None) -> float:
    """The pause's end as the daemon's ``Pause`` takes it: 0 for an empty `text` (until
    resumed), else the unix time of the next ``HH:MM`` (local time; tomorrow when it is past
    today), as ``parkmesh pause --until HH:MM`` means it.

    Raises:
        ValueError: `text` is not ``HH:MM`` (the message says what is expected).
    """
    text = text.strip()
    if not text:
        return 0.0
    try:
        clock = dt.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"until: expected HH:MM (e.g. 06:30) or nothing, not {text!r}") from None
    now = now or dt.datetime.now().astimezone()
    at = now.replace(hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=0)
    return (at if at > now else at + dt.timedelta(days=1)).timestamp()


class PauseDialog(FormDialog):
    """Asks until when to pause; the app applies it and answers with `refused` or closes."""

    NOTE_ID = "pause-error"

    class Submitted(Message):
        """The owner asked for a pause until `until_unix` (0: until resumed)."""

        def __init__(self, until_unix: float, text: str) -> None:
            super().__init__()
            self.until_unix = until_unix
            self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="pause-box"):
            yield Label("Pause compute: no new jobs, running ones finish; r resumes")
            yield Label("Until HH:MM (local time), or leave empty: until resumed")
            yield Input(placeholder="e.g. 06:30", id="pause-input")
            yield Static("Enter pauses, Esc cancels", id="pause-error", classes="dialog-note")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            until = pause_until(event.value)
        except ValueError as exc:
            self.refused(str(exc))
            return
        self.working("pausing…")
        self.post_message(self.Submitted(until, event.value.strip()))
