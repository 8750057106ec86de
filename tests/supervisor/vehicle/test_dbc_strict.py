"""DBC files are loaded strictly: impossible messages and signals are refused, located."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.config.errors import ConfigError
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.dbc import load_dbc
from tests.conftest import SHARED_DBC
from tests.supervisor.vehicle.dbc_texts import HEADER, extended_body_dbc

REFERENCE_DBC = DATA_DIR / "parkmesh_reference.dbc"

# Each case: the DBC body after the header, the words the error must hold, and the line (of
# the whole file) it must point at. HEADER is 8 lines, so the first BO_ is line 9.
HOSTILE: dict[str, tuple[str, str, int]] = {
    "a 99-bit signal": (
        'BO_ 256 M: 8 X\n SG_ s : 0|99@1+ (1,0) [0|1] "" X\n',
        "message M (standard id 0x100): signal s is 99 bits long; a signal has 1 to 64",
        10,
    ),
    "a 99-bit signal in a 99-byte message": (
        'BO_ 256 M: 99 X\n SG_ s : 0|99@1+ (1,0) [0|1] "" X\n',
        # Both are wrong; the message's own DLC is named first.
        "message M (standard id 0x100) has a DLC of 99 bytes",
        9,
    ),
    "start bit 999": (
        'BO_ 256 M: 8 X\n SG_ ok : 0|8@1+ (1,0) [0|1] "" X\n SG_ s : 999|2@1+ (1,0) [0|1] "" X\n',
        "signal s has start bit 999, outside the 8-byte frame (bits 0..63)",
        11,
    ),
    "a signal running past the end": (
        'BO_ 256 M: 2 X\n SG_ s : 8|16@1+ (1,0) [0|1] "" X\n',
        "signal s runs past the end of the 2-byte frame (16 bits from start bit 8, little-endian)",
        10,
    ),
    "a big-endian signal running past the end": (
        'BO_ 256 M: 1 X\n SG_ s : 0|8@0+ (1,0) [0|1] "" X\n',
        "signal s runs past the end of the 1-byte frame (8 bits from start bit 0, big-endian)",
        10,
    ),
    "overlapping signals": (
        'BO_ 256 M: 8 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n SG_ b : 2|4@1+ (1,0) [0|1] "" X\n',
        "message M (standard id 0x100) has an impossible layout: The signals b and a are"
        " overlapping",
        9,
    ),
    "a DLC of 99": (
        'BO_ 256 M: 99 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n',
        "message M (standard id 0x100) has a DLC of 99 bytes; a classic CAN frame carries 0 to 8",
        9,
    ),
    "a 13-bit float": (
        'BO_ 256 M: 8 X\n SG_ f : 0|13@1- (1,0) [0|1] "" X\nSIG_VALTYPE_ 256 f : 1;\n',
        "signal f is a float of 13 bits; IEEE floats have 32 or 64",
        10,
    ),
    "a minimum above the maximum": (
        'BO_ 256 M: 8 X\n SG_ a : 0|4@1+ (1,0) [3|1] "" X\n',
        "signal a has a minimum of 3, above its maximum of 1",
        10,
    ),
    "a scale of 0": (
        'BO_ 256 M: 8 X\n SG_ a : 0|4@1+ (0,5) [0|10] "" X\n',
        "signal a has a scale of 0",
        10,
    ),
    "two messages with one id": (
        'BO_ 256 M: 8 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n\n'
        'BO_ 256 N: 8 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n',
        "message N (standard id 0x100) has the same standard id as message M",
        12,
    ),
    "a CAN FD message of 10 bytes": (
        'BO_ 256 M: 10 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n'
        'BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","StandardCAN_FD",'
        '"ExtendedCAN_FD";\nBA_ "VFrameFormat" BO_ 256 2;\n',
        "has a DLC of 10 bytes, not a CAN FD length (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16,",
        9,
    ),
}


def write(tmp_path: Path, text: str, name: str = "car.dbc") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_impossible_dbc_is_refused_with_file_line_message_and_signal(
    tmp_path: Path, case: str
) -> None:
    body, words, line = HOSTILE[case]
    path = write(tmp_path, HEADER + body)
    with pytest.raises(ConfigError) as info:
        load_dbc(path)
    error = info.value
    assert words in str(error)
    assert (error.file, error.line) == (path, line)
    assert str(error).startswith(f"{path}:{line}: message ")


def test_what_strict_loading_still_accepts(tmp_path: Path) -> None:
    # A CAN FD message of 64 bytes, and a 29-bit message numbered like an 11-bit one.
    text = HEADER + (
        'BO_ 256 Std: 8 X\n SG_ a : 0|4@1+ (1,0) [0|1] "" X\n\n'
        'BO_ 2147483904 Ext: 8 X\n SG_ b : 0|4@1+ (1,0) [0|1] "" X\n\n'
        'BO_ 512 Fd: 64 X\n SG_ c : 500|12@1+ (1,0) [0|0] "" X\n'
        'BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","StandardCAN_FD",'
        '"ExtendedCAN_FD";\nBA_ "VFrameFormat" BO_ 512 2;\n'
    )
    db = load_dbc(write(tmp_path, text))
    kinds = {(m.name, m.frame_id, m.is_extended_frame, m.length) for m in db.messages}
    assert kinds == {("Std", 0x100, False, 8), ("Ext", 0x100, True, 8), ("Fd", 0x200, False, 64)}


def test_the_shipped_dbc_and_its_extended_variant_load(tmp_path: Path) -> None:
    assert len(load_dbc(REFERENCE_DBC).messages) == 5
    db = load_dbc(extended_body_dbc(tmp_path))
    assert db.get_message_by_name("PM_BodyStatus").is_extended_frame


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("Model3CAN.dbc", 159),
        ("tesla_model3_party.dbc", 21),
        ("tesla_model3_vehicle.dbc", 11),
        ("tesla_powertrain.dbc", 6),
    ],
)
def test_the_real_tesla_dbcs_load_strictly(name: str, messages: int) -> None:
    assert len(load_dbc(SHARED_DBC / name).messages) == messages


def test_the_tesla_dbc_with_a_stray_value_table_is_refused_clearly() -> None:
    # opendbc's tesla_can.dbc gives choices to UI_mapSpeedLimit under message 568, which does
    # not have that signal. cantools >= 45.1 refuses it even when not strict; so do we, rather
    # than guess which signal those names belong to (choice names decide what is a fault).
    path = SHARED_DBC / "tesla_can.dbc"
    with pytest.raises(ConfigError) as info:
        load_dbc(path)
    assert info.value.file == path
    assert "unused VAL_ entries in DBC: VAL_ 568 UI_mapSpeedLimit" in str(info.value)
    assert "a value table names a signal its message does not have" in str(info.value)
    assert "\n" not in str(info.value)


def config_with_dbc(tmp_path: Path, dbc: Path) -> Path:
    path = tmp_path / "parkmesh.toml"
    path.write_text(f'[vehicle]\nsource = "can"\n[vehicle.can]\ndbc = "{dbc}"\n')
    return path


def test_check_config_names_the_bad_dbc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, _, line = HOSTILE["start bit 999"]
    dbc = write(tmp_path, HEADER + body)
    with pytest.raises(ConfigError, match="start bit 999"):
        FrameDecoder.load(dbc, DATA_DIR / "reference_mapping.toml")
    # The exit status is the CLI's (a configuration error, not a crash); the words are ours.
    assert main(["check-config", str(config_with_dbc(tmp_path, dbc))]) not in (0, 1)
    err = capsys.readouterr().err
    assert f"{dbc}:{line}: message M (standard id 0x100): signal s has start bit 999" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_the_daemon_refuses_to_start_on_a_bad_dbc(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    body, words, line = HOSTILE["a DLC of 99"]
    dbc = write(tmp_path, HEADER + body)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor.cli",
            "run",
            "--config",
            str(config_with_dbc(tmp_path, dbc)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
    )
    # A configuration error's status (not 0, not a crash's 1), and our words on stderr.
    assert proc.returncode not in (0, 1), proc.stderr
    assert f"parkmesh: {dbc}:{line}: {words} (mark the message CAN FD" in proc.stderr
    assert "Traceback" not in proc.stderr
