"""Picking one worker of those the daemon shows (for a restart): a list, Enter picks."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.format import DASH


def worker_line(worker: dict[str, Any]) -> str:
    """One worker as the list shows it: model, pid, state, device."""
    pid = worker.get("id")
    return (
        f"{worker.get('model') or DASH}  pid {DASH if pid is None else pid}  "
        f"{worker.get('state') or DASH}  {worker.get('device') or DASH}"
    )


class WorkerPicker(ModalScreen[str | None]):
    """Lists `workers` (the ``WorkersJson`` rows); dismisses with the model picked, None on Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, workers: list[dict[str, Any]], title: str) -> None:
        super().__init__()
        self.rows = workers
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box"):
            yield Label(self.title_text)
            yield OptionList(
                *(
                    Option(worker_line(w), id=str(w.get("model")))
                    for w in self.rows
                    if w.get("model")
                ),
                id="pick-list",
            )
            yield Static("↑/↓ choose, Enter picks, Esc cancels", classes="dialog-note")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
