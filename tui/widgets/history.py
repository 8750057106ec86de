"""`History`: a titled short list (the overview's last stops and last jobs), newest first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class History(Static):
    """A heading and up to a few lines; `empty` when there are none."""

    def show_lines(self, title: str, lines: list[str], empty: str) -> None:
        """Replace the list with `lines` (already newest first)."""
        text = Text(title, style="bold")
        for line in lines or [empty]:
            text.append("\n")
            text.append(line, style="" if lines else "dim")
        self.update(text)
