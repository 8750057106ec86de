"""`SocPlot`: the projected state of charge until departure, drawn in text.

textual-plotext is not available, so this draws points on a character grid: time across
(hours from now), state of charge up; the owner's floor and the departure target are dashed
lines. It redraws on resize, so it fits 80x24 and larger.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

Y_LABEL = 5  # "100%|" column


class SocPlot(Widget):
    """A text plot of (seconds from now, percent) points with floor and target lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[tuple[float, float]] = []
        self.floor: float | None = None
        self.target: float | None = None

    def set_data(
        self, points: Sequence[tuple[float, float]], floor: float | None, target: float | None
    ) -> None:
        """Plot `points`; draw `floor` and `target` (percent) when known."""
        self.points = [(float(t), float(s)) for t, s in points]
        self.floor, self.target = floor, target
        self.refresh()

    def render(self) -> Text:
        width, height = max(self.size.width, 20), max(self.size.height, 4)
        return draw(self.points, self.floor, self.target, width, height)


def draw(
    points: Sequence[tuple[float, float]],
    floor: float | None,
    target: float | None,
    width: int,
    height: int,
) -> Text:
    """The plot as text of `width` x `height` characters (pure; tested directly)."""
    rows, cols = height - 1, width - Y_LABEL - 1
    if not points:
        return Text("no projection (state of charge or departure unknown)", style="dim")
    values = [s for _, s in points] + [v for v in (floor, target) if v is not None]
    lo, hi = max(min(values) - 5.0, 0.0), min(max(values) + 5.0, 100.0)
    span_t = max(points[-1][0] - points[0][0], 1.0)
    grid = [[" "] * cols for _ in range(rows)]
    styles = [[""] * cols for _ in range(rows)]

    def row_of(percent: float) -> int:
        return min(rows - 1, max(0, round((hi - percent) / max(hi - lo, 1e-9) * (rows - 1))))

    for level, name, style in ((floor, "floor", "red"), (target, "target", "green")):
        if level is not None:
            r = row_of(level)
            label = f" {name} {level:g} % "
            for c in range(cols):
                grid[r][c], styles[r][c] = "╌", style
            for i, ch in enumerate(label[: max(cols - 2, 0)]):
                grid[r][cols - len(label) - 1 + i if cols > len(label) + 1 else i] = ch
    for t, s in points:
        c = min(cols - 1, round((t - points[0][0]) / span_t * (cols - 1)))
        r = row_of(s)
        grid[r][c], styles[r][c] = "●", "bold cyan"
    text = Text()
    for r in range(rows):
        label = f"{hi - r * (hi - lo) / max(rows - 1, 1):3.0f}%" if r % 2 == 0 else "    "
        text.append(f"{label}│")
        for c in range(cols):
            text.append(grid[r][c], style=styles[r][c] or None)
        text.append("\n")
    hours = span_t / 3600
    axis = f"now{'':{max(cols - 12, 0)}}+{hours:.1f} h"
    text.append(" " * Y_LABEL + "└" + axis[:cols])
    return text
