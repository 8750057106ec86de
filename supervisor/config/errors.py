"""The errors a configuration problem raises: one problem, or every problem of one file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class ConfigError(ValueError):
    """A configuration (or mapping, scenario, preferences) file is wrong.

    The message names the file, the line, the table and the dotted key, so that an operator can
    fix it without reading code:
    ``/etc/parkmesh/parkmesh.toml:12: [budget.gpu] budget.gpu.warn_c: must be below stop_c``.
    Errors from the main configuration file name their table (`section`); those of other files
    (mappings, scenarios) name the file, line and key only.

    Attributes:
        file, line, key, section: where the problem is; each may be None when not known.
        detail: the problem alone, without its location.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        section: str | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.line = line
        self.key = key
        self.section = section
        self.detail = message
        where = ""
        if self.file is not None:
            where = f"{self.file}:{line}: " if line else f"{self.file}: "
        table = f"[{section}] " if section else ""
        super().__init__(f"{where}{table}{key + ': ' if key else ''}{message}")

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Every problem this error stands for, in file order (here: itself)."""
        return (self,)

    def as_dict(self) -> dict[str, object]:
        """The problem as plain data (``parkmesh check-config --json``)."""
        return {
            "error": str(self),
            "file": str(self.file or ""),
            "line": self.line,
            "section": self.section,
            "key": self.key,
            "problem": self.detail,
        }


class ConfigErrors(ConfigError):
    """Several problems found in one file, reported together so that one edit fixes them all.

    Its own file, line and key are those of the first problem; its text is one line per
    problem, so that a log or a terminal shows each in full.
    """

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        if not problems:
            raise ValueError("ConfigErrors needs at least one problem")
        flat = tuple(p for problem in problems for p in problem.problems)
        first = flat[0]
        super().__init__(
            first.detail, file=first.file, line=first.line, key=first.key, section=first.section
        )
        self._problems = flat
        self.args = ("\n".join(str(p) for p in flat),)

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Every problem, in the order found."""
        return self._problems


def combine(problems: Sequence[ConfigError]) -> ConfigError:
    """`problems` as one error to raise: the single one itself, several as `ConfigErrors`.

    Raises:
        ValueError: `problems` is empty (a caller's bug).
    """
    if len(problems) == 1:
        return problems[0]
    return ConfigErrors(problems)
