"""`NavBar`: the screens and their keys on one line, the current one highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("1", "overview", "Overview"),
    ("2", "vehicle", "Vehicle"),
    ("3", "budget", "Budget"),
    ("4", "workers", "Workers"),
    ("5", "jobs", "Jobs"),
    ("6", "uplink", "Uplink"),
    ("7", "ledger", "Ledger"),
    ("8", "log", "Log"),
)


class NavBar(Static):
    """Screen tabs; `current` is the mode name of the screen showing it."""

    def __init__(self, current: str) -> None:
        super().__init__(self._text(current))

    @staticmethod
    def _text(current: str) -> Text:
        text = Text()
        for key, mode, title in SCREENS:
            style = "bold reverse" if mode == current else ""
            text.append(f" {key} {title} ", style=style)
        return text
