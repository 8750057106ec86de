"""Bad DBCs and mappings are refused with the file, line and key named."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest

from supervisor.config.errors import ConfigError
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import CanId, FrameDecoder, load_dbc
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.dbus_mapping import load_dbus_mapping
from supervisor.vehicle.state import SignalUpdate
from tests.supervisor.policy.test_admission import parked_state

REFERENCE_DBC = DATA_DIR / "parkmesh_reference.dbc"

GOOD_ENTRY = """
[[signal]]
path = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
message = "PM_BodyStatus"
signal = "PM_doorFrontLeft"
values = { CLOSED = false, OPEN = true }
"""


def write(tmp_path: Path, text: str, name: str = "mapping.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str) -> FrameDecoder:
    return FrameDecoder.load(REFERENCE_DBC, write(tmp_path, text))


def test_a_good_mapping_loads(tmp_path: Path) -> None:
    assert load(tmp_path, GOOD_ENTRY).frame_ids == frozenset({CanId(256, extended=False)})


def test_mapping_naming_a_missing_signal(tmp_path: Path) -> None:
    text = GOOD_ENTRY + GOOD_ENTRY.replace(
        'signal = "PM_doorFrontLeft"', 'signal = "PM_doorFrontLeftt"'
    )
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    error = info.value
    assert error.line == 8 and error.key == "signal[1].signal"
    assert "message PM_BodyStatus has no signal 'PM_doorFrontLeftt'" in str(error)
    assert str(error).startswith(f"{tmp_path / 'mapping.toml'}:8: ")


def test_mapping_naming_a_missing_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"signal\[0\]\.message: no message 'PM_Nope' in the DBC"):
        load(tmp_path, GOOD_ENTRY.replace('"PM_BodyStatus"', '"PM_Nope"'))


@pytest.mark.parametrize(
    ("transform", "why"),
    [
        (
            '__import__(\\"os\\").system(\\"true\\")',
            "calling __import__('os').system is not allowed",
        ),
        ("open(x)", "the function 'open' is not allowed"),
        ("x.__class__", "Attribute is not allowed"),
        ("x ** 99999", "the operator Pow is not allowed"),
        ("y * 2", "the name 'y' (only x) is not allowed"),
        ("x +", "does not parse"),
    ],
)
def test_mapping_with_a_bad_transform(tmp_path: Path, transform: str, why: str) -> None:
    text = GOOD_ENTRY.replace(
        "values = { CLOSED = false, OPEN = true }", f'transform = "{transform}"'
    ).replace("Vehicle.Cabin.Door.Row1.DriverSide.IsOpen", "Vehicle.Speed")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.key == "signal[0].transform"
    assert why in str(info.value)


def test_value_map_key_that_is_not_a_choice(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"'AJAR' is not a choice of PM_BodyStatus.PM_doorFrontLeft"
        r" \(choices: CLOSED, OPEN, FAULT, SNA\)",
    ):
        load(tmp_path, GOOD_ENTRY.replace("OPEN = true", "AJAR = true"))


def test_value_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is boolean, got 'yes'"):
        load(tmp_path, GOOD_ENTRY.replace("OPEN = true", 'OPEN = "yes"'))


def test_unknown_vss_path_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"did you mean Vehicle.Cabin.Door.Row1.DriverSide.IsOpen\?"
    ):
        load(tmp_path, GOOD_ENTRY.replace("Row1.DriverSide", "Row1.Driverside"))


def test_interval_that_would_make_the_signal_stale(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="would let the signal go stale"):
        load(tmp_path, GOOD_ENTRY + "min_interval_s = 2.0\nmax_age_s = 1.0\n")


def test_unknown_key_and_empty_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"signal\[0\]\.scale: unknown key"):
        load(tmp_path, GOOD_ENTRY + "scale = 2\n")
    with pytest.raises(ConfigError, match="the mapping has no"):
        load(tmp_path, "[defaults]\nmax_age_s = 1.0\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path, "[[signal]\n")


def test_dbc_that_fails_to_load(tmp_path: Path) -> None:
    broken = write(
        tmp_path, 'VERSION ""\nBO_ 256 Broken 8 X\n SG_ s : 0|8@1+ (1,0) [0|1] "" X\n', "broken.dbc"
    )
    with pytest.raises(ConfigError) as info:
        FrameDecoder.load(broken, write(tmp_path, GOOD_ENTRY))
    assert info.value.file == broken
    assert "DBC does not load" in str(info.value)
    with pytest.raises(ConfigError, match="DBC file not found"):
        FrameDecoder.load(tmp_path / "missing.dbc", write(tmp_path, GOOD_ENTRY))


def test_dbus_mapping_errors(tmp_path: Path) -> None:
    good = (DATA_DIR / "dbus_gateway_mapping.toml").read_text()
    assert len(load_dbus_mapping(write(tmp_path, good)).entries) == good.count("[[signal]]")
    with pytest.raises(ConfigError, match="not a valid DBus object_path"):
        load_dbus_mapping(
            write(tmp_path, good.replace('"/org/parkmesh/VehicleGateway1"', '"bad"', 1))
        )
    with pytest.raises(ConfigError, match=r"must be longer than gateway.poll_s"):
        load_dbus_mapping(write(tmp_path, good.replace("max_age_s = 2.0", "max_age_s = 0.1")))


SEAT_ENTRY = """
[[signal]]
path = "Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus"
message = "PM_BodyStatus"
signal = "PM_driverSeat"
values = { EMPTY = "EMPTY", OCCUPIED = "OCCUPIED" }
"""


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        (
            GOOD_ENTRY.replace("OPEN = true }", "OPEN = true }\ndefault = false"),
            "signal[0].default",
            "False would let readings the map does not list admit compute",
        ),
        (
            SEAT_ENTRY.replace("values = {", 'default = "EMPTY"\nvalues = {'),
            "signal[0].default",
            "'EMPTY' would let readings the map does not list admit compute",
        ),
        (
            SEAT_ENTRY.replace('OCCUPIED = "OCCUPIED"', 'OCCUPIED = "OCCUPIED", SNA = "EMPTY"'),
            "signal[0].values.SNA",
            "'SNA' is not a reading; mapping it to 'EMPTY' would admit compute",
        ),
        (
            # By number: 3 is PM_driverSeat's SNA in the DBC.
            SEAT_ENTRY.replace('OCCUPIED = "OCCUPIED"', 'OCCUPIED = "OCCUPIED", 3 = "EMPTY"'),
            "signal[0].values.3",
            "'SNA' is not a reading",
        ),
        (
            GOOD_ENTRY.replace("OPEN = true }", "OPEN = true, FAULT = false }"),
            "signal[0].values.FAULT",
            "'FAULT' is not a reading; mapping it to False would admit compute",
        ),
    ],
)
def test_a_map_cannot_make_an_unknown_reading_safe(
    tmp_path: Path, entry: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, entry)
    assert info.value.key == key
    assert words in str(info.value)


def test_an_unsafe_default_is_allowed(tmp_path: Path) -> None:
    # Unlisted readings may be mapped to the unsafe side: an unknown latch counts as open.
    entry = GOOD_ENTRY.replace("OPEN = true }", "OPEN = true }\ndefault = true")
    assert load(tmp_path, entry).frame_ids == frozenset({CanId(256, extended=False)})


def test_an_unmapped_raw_seat_value_is_unknown_and_stops_work(tmp_path: Path) -> None:
    decoder = load(tmp_path, SEAT_ENTRY)
    # PM_driverSeat 2 has no DBC choice and 3 is SNA: neither may become EMPTY.
    body = decoder_db().get_message_by_name("PM_BodyStatus")
    values = {s.name: 0 for s in body.signals}
    readings = []
    for raw in (0, 2, 3):
        values["PM_driverSeat"] = raw
        updates = decoder.decode(256, body.encode(values, strict=False), float(raw))
        readings.append([(u.path, u.value) for u in updates])
    assert readings == [
        [(vss.DRIVER_SEAT, "EMPTY")],
        [(vss.DRIVER_SEAT, None)],
        [(vss.DRIVER_SEAT, None)],
    ]
    state = parked_state(2.0)
    policy = AdmissionPolicy(PolicyConfig(settle_s=0.0))
    assert policy.evaluate(state, 2.0).accepting
    state.apply(SignalUpdate(vss.DRIVER_SEAT, readings[1][0][1], 2.1))
    decision = policy.evaluate(state, 2.1)
    assert decision.hard_stop_edge
    assert [r.text for r in decision.reasons] == ["driver seat: the car reports it as unknown"]


def test_dbus_mapping_cannot_default_the_power_state_to_a_safe_one(tmp_path: Path) -> None:
    good = (DATA_DIR / "dbus_gateway_mapping.toml").read_text()
    bad = good.replace('property = "PowerState"\n', 'property = "PowerState"\ndefault = "ACC"\n')
    with pytest.raises(ConfigError) as info:
        load_dbus_mapping(write(tmp_path, bad))
    assert info.value.key is not None and info.value.key.endswith(".default")
    assert "'ACC' would let readings the map does not list admit compute" in str(info.value)


def test_shipped_mappings_map_no_fault_code_to_a_safe_value() -> None:
    # Loading is the check: every shipped mapping passes the unknown-stays-unsafe rule.
    load_dbus_mapping(DATA_DIR / "dbus_gateway_mapping.toml")
    FrameDecoder.load(REFERENCE_DBC, DATA_DIR / "reference_mapping.toml")


def decoder_db() -> cantools.database.can.Database:
    return load_dbc(REFERENCE_DBC)
