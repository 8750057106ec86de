"""SunSpec register maps: finding the models, and decoding the points parkmesh reads.

Pure functions of register values (16-bit ints). A SunSpec device publishes, from its base
register, the marker "SunS", then each model as (id, length, body...), ending with the model
id 0xFFFF. Points scale by a scale-factor register (value × 10^sf); a point or scale factor
holding SunSpec's "not implemented" value decodes to None (unknown, which stops work).

Models read: 1 (common: manufacturer, model, serial), 101/102/103 (inverter, integer and scale
factor: operating state, events, temperatures) and 124 (basic storage: state of charge, the
owner's reserve ``MinRsvPct``, charge state, charge rate and source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .signals import (
    CABINET_TEMP,
    CHARGE_STATE,
    CHARGE_STATES,
    GRID_CONNECTED,
    INVERTER_STATE,
    INVERTER_STATES,
    RESERVE,
    SOC,
    SOLAR_SURPLUS_W,
    TEMPERATURE,
)

MARKER: Final = (0x5375, 0x6E53)  # "SunS"
END_MODEL: Final = 0xFFFF
COMMON: Final = 1
INVERTERS: Final = (103, 102, 101)
STORAGE: Final = 124
# "Not implemented" values, per SunSpec point type.
NI_INT16: Final = 0x8000
NI_UINT16: Final = 0xFFFF
NI_SF: Final = 0x8000
# Model 10x Evt1 bit 4: the inverter lost the grid (it islands, or stops).
EVT1_GRID_DISCONNECT: Final = 1 << 4
# Model 124 ChaGriSet: 1 = the battery charges from PV only.
CHARGE_FROM_PV: Final = 1
CHARGING: Final = 4


class SunSpecError(Exception):
    """The register map is not a SunSpec map parkmesh can read (the text says why)."""


@dataclass(frozen=True, slots=True)
class ModelAt:
    """Where one model's body lies: its first register and its length."""

    model: int
    address: int
    length: int


def is_marker(registers: Sequence[int]) -> bool:
    """Whether two registers are the "SunS" marker."""
    return tuple(registers[:2]) == MARKER


def next_model(header: Sequence[int], address: int) -> ModelAt | None:
    """The model whose (id, length) header was read at `address`; None at the end model."""
    model, length = header[0], header[1]
    if model == END_MODEL:
        return None
    return ModelAt(model, address + 2, length)


def _signed(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def int16(raw: int) -> int | None:
    """A SunSpec int16 point; None when not implemented."""
    return None if raw == NI_INT16 else _signed(raw)


def uint16(raw: int) -> int | None:
    """A SunSpec uint16 (or enum16) point; None when not implemented."""
    return None if raw == NI_UINT16 else raw


def scaled(value: int | None, sf_raw: int) -> float | None:
    """`value` × 10^sf, None when either is not implemented or the factor is out of range."""
    if value is None or sf_raw == NI_SF:
        return None
    sf = _signed(sf_raw)
    if not -10 <= sf <= 10:
        return None
    return value * 10.0**sf


def text(registers: Sequence[int]) -> str:
    """A SunSpec string point (two characters per register, NUL padded)."""
    raw = b"".join(r.to_bytes(2, "big") for r in registers)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def device_name(common: Sequence[int]) -> str:
    """``Manufacturer Model (serial)`` from the common model's body (66 registers)."""
    if len(common) < 66:
        raise SunSpecError(f"common model is {len(common)} registers long, not 66")
    maker, model, serial = text(common[0:16]), text(common[16:32]), text(common[48:64])
    name = " ".join(p for p in (maker, model) if p) or "SunSpec device"
    return f"{name} ({serial})" if serial else name


Reading = tuple[str, bool | int | float | str | None]


def inverter_readings(body: Sequence[int]) -> list[Reading]:
    """Grid connection, operating state and temperatures from a model 101/102/103 body."""
    if len(body) < 40:
        raise SunSpecError(f"inverter model is {len(body)} registers long, at least 40 needed")
    state = uint16(body[36])
    evt1_raw = (body[38] << 16) | body[39]
    # Evt1 all ones is "not implemented": the grid's state is then unknown.
    grid = None if evt1_raw == 0xFFFFFFFF else not evt1_raw & EVT1_GRID_DISCONNECT
    tmp_sf = body[35]
    return [
        (GRID_CONNECTED, grid),
        (INVERTER_STATE, None if state is None else INVERTER_STATES.get(state)),
        (CABINET_TEMP, scaled(int16(body[31]), tmp_sf)),
        # TmpOt ("other"): where hybrid inverters report their battery's temperature.
        (TEMPERATURE, scaled(int16(body[34]), tmp_sf)),
    ]


def storage_readings(body: Sequence[int]) -> list[Reading]:
    """State of charge, reserve, charge state and surplus solar from a model 124 body."""
    if len(body) < 24:
        raise SunSpecError(f"storage model is {len(body)} registers long, not 24")
    state_raw = uint16(body[9])
    state = None if state_raw is None else CHARGE_STATES.get(state_raw)
    in_rate = scaled(int16(body[11]), body[23])  # InWRte, percent of WChaMax
    w_cha_max = scaled(uint16(body[0]), body[16])
    source = uint16(body[15])
    surplus: float | None = 0.0
    # Power the battery takes from the sun alone is surplus solar: compute may take it
    # instead, without drawing on what is stored.
    if state_raw == CHARGING and source == CHARGE_FROM_PV:
        surplus = (
            None if in_rate is None or w_cha_max is None else max(0.0, in_rate) / 100 * w_cha_max
        )
    return [
        (SOC, _percent(scaled(uint16(body[6]), body[20]))),
        (RESERVE, _percent(scaled(uint16(body[5]), body[19]))),
        (CHARGE_STATE, state),
        (SOLAR_SURPLUS_W, surplus),
    ]


def _percent(value: float | None) -> float | None:
    return value if value is not None and 0.0 <= value <= 100.0 else None
