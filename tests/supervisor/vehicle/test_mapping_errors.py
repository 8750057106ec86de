"""Bad DBCs and mappings are refused with the file, line and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.config.errors import ConfigError
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.dbus_mapping import load_dbus_mapping

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
    assert load(tmp_path, GOOD_ENTRY).frame_ids == frozenset({256})


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
    assert len(load_dbus_mapping(write(tmp_path, good)).entries) == 13
    with pytest.raises(ConfigError, match="not a valid DBus object_path"):
        load_dbus_mapping(
            write(tmp_path, good.replace('"/org/parkmesh/VehicleGateway1"', '"bad"', 1))
        )
    with pytest.raises(ConfigError, match=r"must be longer than gateway.poll_s"):
        load_dbus_mapping(write(tmp_path, good.replace("max_age_s = 2.0", "max_age_s = 0.1")))
