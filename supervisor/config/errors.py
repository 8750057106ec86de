"""The one error a configuration problem raises."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A configuration (or mapping, scenario, preferences) file is wrong.

    The message names the file, the line and the key, so that an operator can fix it without
    reading code: ``/etc/parkmesh/parkmesh.toml:12: policy.settle_s: must be at least 0``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.line = line
        self.key = key
        self.detail = message
        where = ""
        if self.file is not None:
            where = f"{self.file}:{line}: " if line else f"{self.file}: "
        super().__init__(f"{where}{key + ': ' if key else ''}{message}")
