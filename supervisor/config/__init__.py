"""Configuration: typed sections parsed from TOML, errors that name file, line and key.

Import `supervisor.config.load` for `load_config`; this package itself stays import-light so
that each subsystem's section module can import `supervisor.config.sections` without a cycle.
"""

from .errors import ConfigError as ConfigError
from .errors import ConfigErrors as ConfigErrors
