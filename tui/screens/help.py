"""Help: the keys, and what each action does to the daemon (some are not in the footer)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.limits import FLOOR_RANGE

HELP = f"""\
[b]Screens[/b]   1 Overview  2 Vehicle  3 Budget  4 Workers
          5 Jobs  6 Uplink  7 Ledger  8 Log

[b]Technician[/b] (the parkmesh-tech group)
  d  Drain: take no new jobs; running ones finish
  t  Test stop: fire a hard stop as a door would and show the
     measured latency (asks first: y / n)
  c  Curtail: a level 0 to 3 or a kW limit, for some minutes
  w  Restart a worker: pick one; its running job ends (asks first)
  ^r Reload the configuration: what applies, what needs a restart
[b]Owner[/b] (the parkmesh-owner group; the technician may too)
  p  Pause compute now, or until HH:MM
  r  Resume: lift the owner's pause and the technician's drain
  f  Charge floor: {FLOOR_RANGE[0]:g} to {FLOOR_RANGE[1]:g} % (the daemon's range)
[b]Log[/b]  l  minimum level (all, INFO, WARNING, ERROR)
     /  search (Enter keeps it, Esc clears it)

  ?  this help   q  quit   Esc closes this window."""


class HelpScreen(ModalScreen[None]):
    """The key bindings, over the current screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(HELP, id="help-text")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
