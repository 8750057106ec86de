"""`Facts`: aligned ``name  value`` lines (values may carry Rich markup styles)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Facts(Static):
    """A small two-column list of facts."""

    def show_facts(self, rows: list[tuple[str, str | Text]]) -> None:
        """Replace the facts with `rows`."""
        width = max((len(name) for name, _ in rows), default=0)
        text = Text()
        for i, (name, value) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{name:<{width}}  ", style="bold")
            text.append(value if isinstance(value, Text) else Text(value))
        self.update(text)
