"""The shipped Tesla Model 3 mapping against the real Model3CAN.dbc from ../shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cantools
import cantools.database
import pytest

from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import FrameDecoder, load_can_mapping
from supervisor.vehicle.config import DATA_DIR

MAPPING = DATA_DIR / "model3_mapping.toml"


@pytest.fixture(scope="module")
def db(model3_dbc: Path) -> cantools.database.can.Database:
    loaded = cantools.database.load_file(str(model3_dbc))
    assert isinstance(loaded, cantools.database.can.Database)
    return loaded


@pytest.fixture
def decoder(db: cantools.database.can.Database) -> FrameDecoder:
    # A fresh decoder per test (its interval gate has memory) over the module's parsed DBC.
    return FrameDecoder(db, load_can_mapping(MAPPING, db))


def encode(db: cantools.database.can.Database, name: str, **values: Any) -> tuple[int, bytes]:
    """Encode a frame with cantools; signals not given are zero (or their mux selector)."""
    message = db.get_message_by_name(name)
    full = {s.name: 0 for s in message.signals}
    full.update(values)
    return message.frame_id, bytes(message.encode(full, strict=False))


def decode(decoder: FrameDecoder, frame: tuple[int, bytes]) -> dict[str, Any]:
    return {u.path: u.value for u in decoder.decode(frame[0], frame[1], 1.0)}


def test_doors_and_trunk_from_latch_statuses(db: Any, decoder: FrameDecoder) -> None:
    left = decode(
        decoder,
        encode(
            db,
            "ID102VCLEFT_doorStatus",
            VCLEFT_frontLatchStatus="LATCH_OPENED",
            VCLEFT_rearLatchStatus="LATCH_CLOSED",
        ),
    )
    assert left == {vss.DOORS[0]: True, vss.DOORS[2]: False}
    right = decode(
        decoder,
        encode(
            db,
            "ID103VCRIGHT_doorStatus",
            VCRIGHT_frontLatchStatus="LATCH_AJAR",
            VCRIGHT_rearLatchStatus="LATCH_CLOSED",
            VCRIGHT_trunkLatchStatus="LATCH_OPENING",
        ),
    )
    assert right == {vss.DOORS[1]: True, vss.DOORS[3]: False, vss.TRUNK_REAR: True}


def test_latch_sna_and_fault_make_the_door_unknown(db: Any, decoder: FrameDecoder) -> None:
    values = decode(
        decoder,
        encode(
            db,
            "ID102VCLEFT_doorStatus",
            VCLEFT_frontLatchStatus="LATCH_SNA",
            VCLEFT_rearLatchStatus="LATCH_FAULT",
        ),
    )
    assert values == {vss.DOORS[0]: None, vss.DOORS[2]: None}


@pytest.mark.parametrize(
    ("gear", "expected"),
    [
        ("DI_GEAR_P", 126),
        ("DI_GEAR_D", 127),
        ("DI_GEAR_R", -1),
        ("DI_GEAR_N", 0),
        ("DI_GEAR_SNA", None),
        ("DI_GEAR_INVALID", None),
    ],
)
def test_gear(db: Any, decoder: FrameDecoder, gear: str, expected: int | None) -> None:
    assert decode(decoder, encode(db, "ID118DriveSystemStatus", DI_gear=gear)) == {
        vss.GEAR: expected
    }


def test_speed_in_kmh_and_sna(db: Any, decoder: FrameDecoder) -> None:
    assert decode(decoder, encode(db, "ID257DIspeed", DI_vehicleSpeed=42.0)) == {vss.SPEED: 42.0}
    frame_id, data = encode(db, "ID257DIspeed", DI_vehicleSpeed="SNA")
    assert {u.path: u.value for u in decoder.decode(frame_id, data, 2.0)} == {vss.SPEED: None}


def test_state_of_charge_and_capacity(db: Any, decoder: FrameDecoder) -> None:
    assert decode(decoder, encode(db, "ID292BMS_SOC", SOCUI292=63.4)) == {vss.SOC: 63.4}
    assert decode(decoder, encode(db, "ID352BMS_energyStatus", BMS_nominalFullPackEnergy=75.3)) == {
        vss.NET_CAPACITY: 75
    }
    assert decode(
        decoder, encode(db, "ID352BMS_energyStatus", BMS_nominalFullPackEnergy="SNA")
    ) == {vss.NET_CAPACITY: None}


def test_charging_cable_and_line_power(db: Any, decoder: FrameDecoder) -> None:
    assert decode(decoder, encode(db, "ID212BMS_status", BMS_uiChargeStatus="BMS_CHARGING")) == {
        vss.IS_CHARGING: True
    }
    assert decode(
        decoder, encode(db, "ID212BMS_status", BMS_uiChargeStatus="BMS_CHARGE_COMPLETE")
    ) == {vss.IS_CHARGING: False}
    assert decode(
        decoder, encode(db, "ID25DCP_status", CP_chargeCableState="CHARGE_CABLE_CONNECTED")
    ) == {vss.CABLE: True}
    assert decode(
        decoder, encode(db, "ID25DCP_status", CP_chargeCableState="CHARGE_CABLE_UNKNOWN_SNA")
    ) == {vss.CABLE: None}
    assert decode(decoder, encode(db, "ID264ChargeLineStatus", ChargeLinePower264=7.2)) == {
        vss.CHARGE_POWER_KW: 7.2
    }


def test_temperatures(db: Any, decoder: FrameDecoder) -> None:
    assert decode(
        decoder,
        encode(db, "ID312BMSthermal", BMSmaxPackTemperature=31.5, BMSminPackTemperature=28.25),
    ) == {vss.PACK_TEMP_MAX: 31.5, vss.PACK_TEMP_MIN: 28.25}
    assert decode(
        decoder,
        encode(
            db,
            "ID321VCFRONT_sensors",
            VCFRONT_tempCoolantBatInlet=25.5,
            VCFRONT_tempAmbientFiltered=12.0,
        ),
    ) == {vss.COOLANT_TEMP: 25.5, vss.AMBIENT_TEMP: 12.0}


def test_cabin_temperature_only_in_its_multiplexed_frames(db: Any, decoder: FrameDecoder) -> None:
    message = db.get_message_by_name("ID243VCRIGHT_hvacStatus")
    mux = next(s for s in message.signals if s.is_multiplexer)
    frame = encode(db, "ID243VCRIGHT_hvacStatus", **{mux.name: 0}, VCRIGHT_hvacCabinTempEst=21.5)
    assert decode(decoder, frame) == {vss.CABIN_TEMP: 21.5}
    other = encode(db, "ID243VCRIGHT_hvacStatus", **{mux.name: 1})
    assert decode(decoder, other) == {}


def test_driver_present_and_power_state(db: Any, decoder: FrameDecoder) -> None:
    assert decode(decoder, encode(db, "ID3A1VCFRONT_vehicleStatus", VCFRONT_driverPresent=1)) == {
        vss.DRIVER_SEAT: "OCCUPIED"
    }
    assert decode(
        decoder,
        encode(
            db, "ID242VCLEFT_LVPowerState", VCLEFT_vehiclePowerStateDBG="VEHICLE_POWER_STATE_DRIVE"
        ),
    ) == {vss.LOW_VOLTAGE_STATE: "ON"}


def test_the_mapping_covers_every_signal_the_policy_requires(decoder: FrameDecoder) -> None:
    from supervisor.policy.config import DEFAULT_REQUIRED

    assert set(DEFAULT_REQUIRED) <= decoder.mapping.paths
