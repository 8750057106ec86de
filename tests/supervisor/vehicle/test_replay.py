"""Replaying candump logs: ``parkmesh vehicle replay`` and the replay source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cantools
import cantools.database
import pytest
import trio

from sandbox.board import PageBoard
from supervisor.cli import main
from supervisor.config.errors import ConfigError
from supervisor.hotpath import HotPath
from supervisor.policy import AdmissionPolicy, PolicyConfig
from supervisor.vehicle import vss
from supervisor.vehicle.can_decoder import FrameDecoder
from supervisor.vehicle.config import DATA_DIR
from supervisor.vehicle.replay import ReplaySource, read_log
from supervisor.vehicle.state import VehicleState


def candump_line(db: cantools.database.can.Database, t: float, name: str, **values: Any) -> str:
    message = db.get_message_by_name(name)
    full = {s.name: 0 for s in message.signals}
    full.update(values)
    data = bytes(message.encode(full, strict=False))
    return f"({t:.6f}) can0 {message.frame_id:03X}#{data.hex().upper()}"


@pytest.fixture
def model3_log(tmp_path: Path, model3_dbc: Path) -> Path:
    db = cantools.database.load_file(str(model3_dbc))
    assert isinstance(db, cantools.database.can.Database)
    lines = [
        candump_line(db, 100.00, "ID118DriveSystemStatus", DI_gear="DI_GEAR_D"),
        candump_line(db, 100.01, "ID257DIspeed", DI_vehicleSpeed=12.0),
        candump_line(db, 100.50, "ID257DIspeed", DI_vehicleSpeed=0.0),
        candump_line(db, 100.60, "ID118DriveSystemStatus", DI_gear="DI_GEAR_P"),
        candump_line(db, 100.70, "ID292BMS_SOC", SOCUI292=64.2),
        candump_line(
            db,
            100.80,
            "ID102VCLEFT_doorStatus",
            VCLEFT_frontLatchStatus="LATCH_OPENED",
            VCLEFT_rearLatchStatus="LATCH_CLOSED",
        ),
        candump_line(db, 100.90, "ID25DCP_status", CP_chargeCableState="CHARGE_CABLE_CONNECTED"),
        "(100.950000) can0 7FF#0011223344556677",  # an id Model3CAN.dbc does not have
        "(100.960000) can0 257#00",  # truncated
    ]
    path = tmp_path / "drive.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_vehicle_replay_prints_the_final_state(
    model3_log: Path, model3_dbc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "vehicle",
            "replay",
            "--dbc",
            str(model3_dbc),
            "--mapping",
            str(DATA_DIR / "model3_mapping.toml"),
            "--log",
            str(model3_log),
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["signals"] == {
        vss.CABLE: True,
        vss.DOORS[0]: True,
        vss.DOORS[2]: False,
        vss.GEAR: vss.GEAR_PARK,
        vss.SOC: 64.2,
        # The last speed frame is truncated: the speed is unknown, not the 0.0 before it.
        vss.SPEED: None,
    }
    assert (result["frames"], result["unknown_ids"], result["malformed"]) == (9, 1, 1)
    assert vss.DRIVER_SEAT in result["missing"]


def test_replay_of_a_bad_log(
    tmp_path: Path, model3_dbc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.log"
    bad.write_text("(1.0) can0 this is not a frame\n")
    assert (
        main(
            [
                "vehicle",
                "replay",
                "--dbc",
                str(model3_dbc),
                "--mapping",
                str(DATA_DIR / "model3_mapping.toml"),
                "--log",
                str(bad),
            ]
        )
        == 2
    )
    assert "CAN log does not parse" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="CAN log not found"):
        read_log(tmp_path / "missing.log")


async def test_replay_source_feeds_the_hot_path(model3_log: Path, model3_dbc: Path) -> None:
    decoder = FrameDecoder.load(model3_dbc, DATA_DIR / "model3_mapping.toml")
    hotpath = HotPath(VehicleState(), AdmissionPolicy(PolicyConfig(settle_s=0.0)), PageBoard())
    source = ReplaySource(read_log(model3_log), decoder, hotpath, speed=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(source.run)
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert "driver door open" in hotpath.decision.explain()
    assert hotpath.state.get(vss.SOC) is not None
