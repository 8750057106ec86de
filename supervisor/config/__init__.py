"""Configuration: typed sections parsed from TOML, errors that name file, line and key.

Each subsystem declares its section next to its code with msgspec's vocabulary only
(``Annotated[T, msgspec.Meta(...)]``, ``Literal``, ``config_problems``), so that the libraries
(sandbox, thermal, uplink) import nothing from here; `sections.SectionParser` reads those
declarations. Import `supervisor.config.load` for `load_config`; this package itself stays
import-light.
"""

from .errors import ConfigError as ConfigError
from .errors import ConfigErrors as ConfigErrors
