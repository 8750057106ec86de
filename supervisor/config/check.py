"""Start-up checks of a parsed configuration: what only the file system can tell.

`load_config` checks each value and each section's fields together; `check_config` then looks
at what the daemon will read or create when it starts: its state and runtime folders, and the
uplink's TLS files and keys (when the uplink is enabled). ``parkmesh check-config`` and
``parkmesh run`` both call it before anything starts, so that a configuration the daemon cannot
run with is refused in one place, with file, line and key, instead of failing later inside a
service.
"""

from __future__ import annotations

from pathlib import Path

from uplink.config import UplinkConfig, file_problems

from .errors import ConfigError, ConfigErrors, combine
from .schema import Config
from .sections import SectionParser


def check_config(config: Config, file: Path | None = None) -> None:
    """Check the folders and files `config` names (the uplink's only when it is enabled).

    Raises:
        ConfigError: naming file, line, table and key of each problem (`ConfigErrors` when
            there are several).
    """
    problems: list[ConfigError] = []
    for key in ("state_dir", "runtime_dir"):
        problem = _folder_problem(getattr(config.daemon, key))
        if problem:
            problems.append(ConfigError(problem, key=f"daemon.{key}"))
    if config.uplink.enabled:
        problems += [
            ConfigError(message, key=f"uplink.{key}")
            for key, message in file_problems(config.uplink)
        ]
    if problems:
        raise place(combine(problems), file)


def check_uplink(config: UplinkConfig, file: Path | str | None = None) -> None:
    """Every check of ``[uplink]``: its fields together, and its files when ``enabled``.

    Raises:
        ConfigError: naming the key (``uplink.node_id``, ``uplink.cert_file``...) of each
            problem (`ConfigErrors` when there are several).
    """
    problems = list(config.config_problems())
    if config.enabled:
        problems += file_problems(config)
    if problems:
        raise combine(
            [
                ConfigError(message, file=file, key=f"uplink.{key}", section="uplink")
                for key, message in problems
            ]
        )


def _folder_problem(folder: Path) -> str | None:
    """Why `folder` can never be a folder: it, or the nearest part of it that exists, is not
    one. Permissions are not judged: ``check-config`` may run as another user."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir():
        return None
    if existing == folder:
        return f"{folder} is not a folder"
    return f"cannot be created: {existing} is not a folder"


def place(error: ConfigError, file: Path | None) -> ConfigError:
    """`error` with each problem that names a key but no file placed in the configuration
    `file` (line and table found in its text); other problems are kept as they are."""
    if file is None or all(p.file is not None or not p.key for p in error.problems):
        return error
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    parser = SectionParser(file, text)
    placed = [parser.locate(p) if p.file is None and p.key else p for p in error.problems]
    placed.sort(key=lambda p: (str(p.file or ""), p.line or 0))
    return placed[0] if len(placed) == 1 else ConfigErrors(placed)
