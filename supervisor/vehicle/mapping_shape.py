"""The declared shape of a mapping file's tables: each key's type, limits and meaning.

`supervisor.config.sections.SectionParser` checks a table against these declarations (types,
limits, NaN and infinity refused, unknown keys with a suggestion, every problem at once);
`supervisor.vehicle.mapping.MappingLoader` then checks what the values mean, which needs the
DBC or the DBus coordinates: the VSS path, the value map against the signal's choices, the
transform's grammar, and that unknown readings stay unsafe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from msgspec import Meta

DEFAULT_MAX_AGE_S = 2.0

MaxAge = Annotated[float, Meta(gt=0.0, description="a signal older than this is unknown (unsafe)")]
MinInterval = Annotated[
    float, Meta(ge=0.0, description="readings closer together are dropped, unless on_change")
]
OnChange = Annotated[bool, Meta(description="a reading whose value changed is never dropped")]
DbusName = Annotated[str | None, Meta(description="DBus coordinate (DBus mappings only)")]


@dataclass(frozen=True, slots=True)
class MappingDefaults:
    """``[defaults]``: what each ``[[signal]]`` entry that does not say otherwise uses."""

    max_age_s: MaxAge = DEFAULT_MAX_AGE_S
    min_interval_s: MinInterval = 0.0
    on_change: OnChange = True


@dataclass(frozen=True, slots=True)
class SignalEntry:
    """One ``[[signal]]`` table as written; None: the key is absent (``[defaults]`` applies)."""

    path: Annotated[str, Meta(description="the VSS path this entry feeds")]
    message: Annotated[str | None, Meta(description="DBC message name (CAN mappings)")] = None
    signal: Annotated[str | None, Meta(description="DBC signal name (CAN mappings)")] = None
    bus_name: DbusName = None
    object_path: DbusName = None
    interface: DbusName = None
    property: DbusName = None
    values: Annotated[
        dict[str, Any], Meta(description="source choice (or raw number) -> VSS value")
    ] = field(default_factory=dict)
    default: Annotated[Any, Meta(description="VSS value of choices the map does not list")] = None
    transform: Annotated[
        str | None, Meta(description="safe arithmetic in x, applied to numeric values")
    ] = None
    min_interval_s: MinInterval | None = None
    max_age_s: MaxAge | None = None
    on_change: OnChange | None = None


@dataclass(frozen=True, slots=True)
class GatewayTable:
    """``[gateway]`` of a DBus mapping: the default bus name and the polling period."""

    bus_name: Annotated[
        str | None, Meta(description="the gateway's bus name, for entries that name none")
    ] = None
    poll_s: Annotated[
        float, Meta(gt=0.0, description="every property is also re-read this often, s")
    ] = 0.5
