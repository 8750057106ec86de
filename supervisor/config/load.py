"""Loading the configuration file into `Config`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import ConfigError
from .schema import Config
from .sections import SectionParser

DEFAULT_PATH = Path("/etc/parkmesh/parkmesh.toml")


def parse_config(text: str, file: Path | str | None = None) -> Config:
    """Parse and validate a configuration text.

    Raises:
        ConfigError: naming the file, line and key of the first problem.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    return SectionParser(file, text).parse(Config, doc, "")


def load_config(path: Path | None) -> Config:
    """Load the configuration file at `path`; None gives the built-in defaults.

    Raises:
        ConfigError: the file cannot be read or is invalid.
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
