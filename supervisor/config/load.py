"""Loading the configuration file into `Config`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .errors import ConfigError
from .schema import Config
from .sections import SectionParser

DEFAULT_PATH = Path("/etc/parkmesh/parkmesh.toml")

# tomllib ends its messages with the place: "... (at line 3, column 7)".
_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)$")


def config_file(path: Path | None) -> Path | None:
    """`path`, else the default file when one is installed; None: the built-in defaults (the
    commands that read the configuration without being given one)."""
    if path is None and DEFAULT_PATH.exists():
        return DEFAULT_PATH
    return path


def parse_config(text: str, file: Path | str | None = None) -> Config:
    """Parse and validate a configuration text.

    Raises:
        ConfigError: naming the file, line, table and key of the problem; `ConfigErrors`
            (one line per problem) when there are several.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _AT_LINE.search(str(exc))
        line = int(at.group(1)) if at else None
        raise ConfigError(f"not valid TOML: {exc}", file=file, line=line) from None
    return SectionParser(file, text).parse(Config, doc, "")


def load_config(path: Path | None) -> Config:
    """Load the configuration file at `path`; None gives the built-in defaults.

    Raises:
        ConfigError: the file cannot be read or is invalid (every problem listed).
    """
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", file=path) from None
    return parse_config(text, path)
