"""The TUI's DBus client makes the new actions' calls as the API declares them: against the
fake daemon as its own process on a private bus (the real daemon's are in
tests/supervisor/cli/test_actions_real_daemon.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from parkmesh_private_bus import FakeDaemonProcess

from tui.client import INVALID_ARGS, SupervisorClient
from tui.source import CallFailed


def test_the_client_pauses_curtails_restarts_and_reloads(bus_address: str) -> None:
    daemon = FakeDaemonProcess(bus_address)

    async def main() -> None:
        client = SupervisorClient(bus_address)
        try:
            await client.connect()
            await client.pause(0.0)
            assert (await client.properties())["PausedUntil"] == 0.0
            assert await client.unpause() is True
            assert await client.unpause() is False
            accepted = await client.add_curtailment({"max_power_w": 500.0, "duration_s": 60.0})
            assert accepted["id"] == "c1"
            restarted = await client.restart_worker("minilm-l6")
            assert restarted == {"worker": "minilm-l6", "stopped_pid": "w0", "stopped_jobs": []}
            with pytest.raises(CallFailed) as unknown:
                await client.restart_worker("nope")
            assert unknown.value.name == INVALID_ARGS
            assert unknown.value.message == "name: no worker 'nope' (workers: minilm-l6)"
            assert await client.reload_config() == {
                "applied": ["daemon.log_level"],
                "needs_restart": ["sandbox.threads"],
            }
            daemon.send(json.dumps({"reload_error": "/etc/parkmesh/parkmesh.toml:3: bad"}))
            refusal = ""
            for _ in range(100):  # the control line is read by the fake's own task
                try:
                    await client.reload_config()
                except CallFailed as refused:
                    refusal = refused.message
                    break
                await asyncio.sleep(0.05)
            assert refusal == "nothing changed: /etc/parkmesh/parkmesh.toml:3: bad"
        finally:
            await client.close()

    try:
        asyncio.run(main())
    finally:
        daemon.stop()
