"""DBC and mapping texts the hostile-input tests share: an extended-id reference car, a car with
IEEE float signals, and a multiplexed message."""

from __future__ import annotations

from pathlib import Path

from supervisor.bench.reference_car import REFERENCE_DBC

HEADER = 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: X\n\n'

# The body message's number 0x100 as written in a DBC for a 29-bit (extended) frame.
EXTENDED_BODY_DBC_ID = 0x80000100

# Floats: a 32-bit speed with a range, a 64-bit temperature without one ([0|0]).
FLOAT_CAR = (
    HEADER
    + """BO_ 272 F_Drive: 8 X
 SG_ F_speed : 0|32@1- (1,0) [0|300] "km/h" X
 SG_ F_gear : 32|8@1+ (1,0) [0|7] "" X

BO_ 273 F_Temps: 8 X
 SG_ F_ambient : 0|64@1- (1,0) [0|0] "C" X

VAL_ 272 F_gear 0 "P" 1 "R" 2 "N" 3 "D" 7 "SNA" ;
SIG_VALTYPE_ 272 F_speed : 1;
SIG_VALTYPE_ 273 F_ambient : 2;
"""
)
FLOAT_CAR_MAPPING = """
[[signal]]
path = "Vehicle.Speed"
message = "F_Drive"
signal = "F_speed"
min_interval_s = 0.5

[[signal]]
path = "Vehicle.Powertrain.Transmission.SelectedGear"
message = "F_Drive"
signal = "F_gear"
values = { P = 126, R = -1, N = 0, D = 127 }

[[signal]]
path = "Vehicle.Exterior.AirTemperature"
message = "F_Temps"
signal = "F_ambient"
"""

# A multiplexed body message: page 0 carries the driver door, page 1 the trunk; the seat is in
# every page. Pages 2 and 3 are not in the DBC.
MUX_CAR = (
    HEADER
    + """BO_ 512 X_Body: 8 X
 SG_ X_page M : 0|2@1+ (1,0) [0|3] "" X
 SG_ X_seat : 2|2@1+ (1,0) [0|3] "" X
 SG_ X_door m0 : 8|2@1+ (1,0) [0|3] "" X
 SG_ X_trunk m1 : 8|2@1+ (1,0) [0|3] "" X

VAL_ 512 X_seat 0 "EMPTY" 1 "OCCUPIED" 3 "SNA" ;
VAL_ 512 X_door 0 "CLOSED" 1 "OPEN" 3 "SNA" ;
VAL_ 512 X_trunk 0 "CLOSED" 1 "OPEN" 3 "SNA" ;
"""
)
MUX_CAR_MAPPING = """
[[signal]]
path = "Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus"
message = "X_Body"
signal = "X_seat"
values = { EMPTY = "EMPTY", OCCUPIED = "OCCUPIED" }

[[signal]]
path = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
message = "X_Body"
signal = "X_door"
values = { CLOSED = false, OPEN = true }

[[signal]]
path = "Vehicle.Body.Trunk.Rear.IsOpen"
message = "X_Body"
signal = "X_trunk"
values = { CLOSED = false, OPEN = true }
"""


def extended_body_dbc(folder: Path) -> Path:
    """The reference DBC with its body message (0x100) sent as a 29-bit frame."""
    text = REFERENCE_DBC.read_text().replace(" 256 ", f" {EXTENDED_BODY_DBC_ID} ")
    assert f"BO_ {EXTENDED_BODY_DBC_ID} PM_BodyStatus:" in text
    path = folder / "reference_extended_body.dbc"
    path.write_text(text)
    return path


def write_pair(folder: Path, dbc: str, mapping: str, name: str) -> tuple[Path, Path]:
    """Write a DBC and its mapping into `folder`; returns their paths."""
    dbc_path, mapping_path = folder / f"{name}.dbc", folder / f"{name}.toml"
    dbc_path.write_text(dbc)
    mapping_path.write_text(mapping)
    return dbc_path, mapping_path
