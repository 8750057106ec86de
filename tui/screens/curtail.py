"""The curtail dialog: a level or a power limit, for a time, checked as ``parkmesh curtail``
checks it, then by the daemon, whose refusal is shown."""

from __future__ import annotations

import math
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from tui.limits import CURTAIL_DURATION_MIN, CURTAIL_LEVELS, CURTAIL_LIMIT_KW
from tui.screens.form import FormDialog


def curtailment_request(limit: str, duration: str) -> dict[str, Any]:
    """``AddCurtailment``'s request from the dialog's two fields, as ``parkmesh curtail``
    builds it: `limit` is a level (``0`` to ``3``) or a power (``2.5 kW``), `duration` is in
    minutes.

    Raises:
        ValueError: a field is refused; the message starts with its name and says why.
    """
    request: dict[str, Any] = {}
    text = limit.strip().lower()
    lo, hi = CURTAIL_LEVELS
    if text.endswith("kw"):
        kw = _number(text[:-2], "limit")
        k_lo, k_hi = CURTAIL_LIMIT_KW
        if not k_lo <= kw <= k_hi:
            raise ValueError(
                f"limit: must be at least {k_lo:g} and at most {k_hi:g} kW, not {kw:g}"
            )
        request["import_limit_kw"] = kw
    elif text.isdigit() and lo <= int(text) <= hi:
        request["level"] = int(text)
    else:
        raise ValueError(f"limit: a level {lo} to {hi}, or a power such as 2.5 kW, not {limit!r}")
    minutes = _number(duration, "duration")
    d_lo, d_hi = CURTAIL_DURATION_MIN
    if not d_lo < minutes <= d_hi:
        raise ValueError(
            f"duration: must be more than {d_lo:g} and at most {d_hi:g} minutes, not {minutes:g}"
        )
    return {"duration_s": minutes * 60.0, "start_in_s": 0.0, "randomize_s": 0.0, **request}


def _number(text: str, field: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{field}: must be a number, not {text.strip()!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, not {text.strip()!r}")
    return value


class CurtailDialog(FormDialog):
    """Asks for a curtailment; the app hands it to the daemon and answers with `refused` or
    closes the dialog."""

    NOTE_ID = "curtail-error"

    class Submitted(Message):
        """The technician entered a well-formed curtailment (`request`, as the API takes it)."""

        def __init__(self, request: dict[str, Any]) -> None:
            super().__init__()
            self.request = request

    def compose(self) -> ComposeResult:
        lo, hi = CURTAIL_LEVELS
        k_hi, d_hi = CURTAIL_LIMIT_KW[1], CURTAIL_DURATION_MIN[1]
        with Vertical(id="curtail-box"):
            yield Label("Curtail: shed compute load now, for a time")
            yield Label(f"Limit: a level {lo} (normal) to {hi} (emergency), or up to {k_hi:g} kW")
            yield Input(placeholder="e.g. 2  or  3.5 kW", id="curtail-limit")
            yield Label(f"Duration in minutes, up to {d_hi:g} (a week)")
            yield Input(placeholder="e.g. 60", id="curtail-duration")
            yield Static(
                "Tab: next field  Enter applies, Esc cancels",
                id="curtail-error",
                classes="dialog-note",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        limit = self.query_one("#curtail-limit", Input)
        duration = self.query_one("#curtail-duration", Input)
        if event.input is limit and not duration.value.strip():
            duration.focus()
            return
        try:
            request = curtailment_request(limit.value, duration.value)
        except ValueError as exc:
            self.refused(str(exc))
            return
        self.working("applying…")
        self.post_message(self.Submitted(request))
