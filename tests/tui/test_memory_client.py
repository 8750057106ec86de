"""The daemon in memory says what the fake daemon says: the same properties, log and ledger, as
the daemon's own encoding makes them of the fake facade and the fixed ledger (here, no bus),
and the same changes for the same control lines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import memory_data
import pytest
from memory_client import MemoryClient
from parkmesh_fake_daemon import FakeFacade, write_fixed_ledger

from supervisor.api.properties import property_values
from supervisor.ledger import Ledger
from supervisor.ledger.statement import statement
from tui import messages
from tui.client import decode_properties
from tui.source import CallFailed, ConnectionLost, DaemonSource

CHANGES: list[dict[str, Any]] = [
    {},
    {"phase": "not eligible", "reasons": ["driver door open"], "soc": 61.5},
    {"log": "WARNING parkmesh: driver door open"},
    {"workers": [{"id": "w1", "model": "llama-tiny", "device": "cuda:0", "state": "warming"}]},
    {"jobs": []},
    {"uplink": {"connected": False, "tier": "batch"}},
]


@pytest.mark.parametrize("change", CHANGES)
def test_properties_are_the_fake_daemons(change: dict[str, Any]) -> None:
    facade, client = FakeFacade(), MemoryClient()
    facade.apply(change)
    client.apply(change)
    assert client.props == decode_properties(property_values(facade))
    assert client.lines == list(facade.log_lines(200))


def test_the_ledger_is_the_fake_daemons(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write_fixed_ledger(path)
    with Ledger(path, readonly=True) as ledger:
        # Through JSON, as the API sends them.
        recent = json.loads(json.dumps(ledger.recent(20)))
        month = json.loads(json.dumps(statement(ledger, "2026-11")))
    ours = memory_data.ledger_recent()
    assert [{k: row[k] for k in mine} for mine, row in zip(ours, recent, strict=True)] == ours
    kept = memory_data.STATEMENTS["2026-11"]
    assert {k: month[k] for k in kept} == kept


def test_calls_are_recorded_and_refusals_worded_as_the_daemon_does() -> None:
    async def main() -> None:
        memory = MemoryClient()
        client: DaemonSource = memory  # the app's view of it
        props = await client.connect()
        assert props["BudgetJson"]["floor_percent"] == 50.0
        with pytest.raises(CallFailed, match="must be between 20 and 90 %, not 95"):
            await client.set_preference("charge_floor_percent", "95")
        assert await client.set_preference("charge_floor_percent", "60") == 60.0
        assert await client.test_stop() == 3.25
        updates = client.updates()
        floor = await anext(updates)
        assert isinstance(floor, messages.PropertiesChanged)
        assert floor.changed["BudgetJson"]["floor_percent"] == 60.0
        stop = await anext(updates)
        assert isinstance(stop, messages.StopReported) and stop.latency_ms == 3.25
        changed = await anext(updates)
        assert isinstance(changed, messages.PropertiesChanged)
        assert changed.changed == {"LastStopMs": 3.25}
        memory.go_away()
        with pytest.raises(ConnectionLost, match="no parkmesh daemon"):
            await anext(updates)
        with pytest.raises(ConnectionLost):
            await client.connect()
        assert memory.called("set_preference") == [
            ("charge_floor_percent", "95"),
            ("charge_floor_percent", "60"),
        ]

    asyncio.run(main())
