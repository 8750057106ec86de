"""The errors the libraries raise for their own files and keys, as configuration errors.

The libraries (sandbox, thermal, uplink) import nothing of the application, so they cannot
raise its `ConfigError`: the sandbox raises `NodeSetupError` for the node's keys and user, the
budget `PreferenceError` for the owner's preferences file. Each carries what a `ConfigError`
needs (file, line, key, the problem alone); the application catches `LIBRARY_ERRORS` where it
loads or starts these parts and raises `as_config_error` of them, so that an operator sees one
kind of message (file, line, table and key) and the daemon exits with one status.
"""

from __future__ import annotations

from typing import Final

from sandbox.node import NodeSetupError
from thermal.preferences import PreferenceError

from .errors import ConfigError

LIBRARY_ERRORS: Final = (NodeSetupError, PreferenceError)


def as_config_error(error: NodeSetupError | PreferenceError | ConfigError) -> ConfigError:
    """`error` as a `ConfigError` with the same place and problem (a `ConfigError` itself is
    returned unchanged).

    A key of the main configuration file (``sandbox.worker_key``) is left unplaced, for
    `supervisor.config.check.place` to find its line; a preferences file names itself.
    """
    if isinstance(error, ConfigError):
        return error
    if isinstance(error, PreferenceError):
        return ConfigError(error.detail, file=error.file, line=error.line, key=error.field)
    return ConfigError(error.detail, key=error.key)
