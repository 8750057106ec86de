"""`FormDialog`: the frame of the dialogs that send values to the daemon (floor, pause, curtail).

Each checks its input itself first, then posts it; the app hands it to the daemon and either
dismisses the dialog or, on a refusal, keeps it open with the reason (`refused`) on the
dialog's note line, so that the values can be corrected in place.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static


class FormDialog(ModalScreen[None]):
    """Base of the value dialogs. Subclasses set `NOTE_ID`, the id of their note line (a
    `Static` they compose), and post their own `Submitted` message."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    NOTE_ID: ClassVar[str]

    def working(self, text: str) -> None:
        """Say on the note line what the dialog is doing (the values were posted)."""
        self.query_one(f"#{self.NOTE_ID}", Static).update(text)

    def refused(self, message: str) -> None:
        """Show why the values were refused and keep the dialog open."""
        note = self.query_one(f"#{self.NOTE_ID}", Static)
        note.update(f"refused: {message}")
        note.add_class("error")

    def action_cancel(self) -> None:
        self.dismiss(None)
