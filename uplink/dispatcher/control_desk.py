"""The operator's controls on the dispatcher's side: sign and send what the command queued.

``parkmesh dispatcher control`` writes its request into the ``controls`` table of the state
file (`uplink.dispatcher.control_store`); `ControlDesk.run`, a task of the running dispatcher,
looks at the table once every `POLL_S`, seals each unsent row with the dispatcher's key for
its car (``drain``, ``resume`` or ``curtail`` on ``<p>/nodes/<car>/in``, QoS 1) and notes the
message id; `on_ack` records each car's ``control_ack`` against its row, where the waiting
command reads it. A car that is down gets the message from the broker when it is back (its
persistent session), within `TTL_S`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import trio

from ..client import MqttClient
from ..envelope import Signer
from ..topics import Topics
from .control_store import ControlStore

LOG = logging.getLogger("parkmesh.dispatcher.controls")

POLL_S = 1.0
TTL_S = 300.0


class ControlDesk:
    """Sends queued operator controls and records their acknowledgements.

    Args:
        store: the ``controls`` table, open while the dispatcher runs (a callable, as the
            dispatcher opens its file in `run`).
    """

    def __init__(
        self,
        *,
        store: Callable[[], ControlStore],
        signer: Signer,
        mqtt: MqttClient,
        topics: Topics,
        clock: Callable[[], float],
    ) -> None:
        self._store, self._signer, self._mqtt = store, signer, mqtt
        self._topics, self._clock = topics, clock

    async def run(self) -> None:
        """Send what is queued, every `POLL_S`, until cancelled. Raises `sqlite3.Error`."""
        while True:
            self.send_queued()
            await trio.sleep(POLL_S)

    def send_queued(self) -> int:
        """Seal and publish every unsent row; returns how many went out."""
        store = self._store()
        rows = store.unsent()
        for row in rows:
            now = self._clock()
            msg_id = f"{row.request}:{row.car}"
            body = dict(row.body)
            if row.type == "curtail":
                body["id"] = row.request  # the window's id: the same for every car
            payload = self._signer.seal(
                row.type, body, to=row.car, ttl_s=TTL_S, msg_id=msg_id, now=now
            )
            self._mqtt.publish(self._topics.node_in(row.car), payload, qos=1, expiry_s=TTL_S)
            store.mark_sent(row.request, row.car, msg_id, now)
            LOG.info(
                "control %s: %s sent to %s %s", row.request, row.type, row.car, _args(row.body)
            )
        return len(rows)

    def on_ack(self, car: str, body: Mapping[str, Any]) -> None:
        """A car's ``control_ack``: recorded against the request that sent it, if any."""
        ref, ok, detail = str(body["ref"]), bool(body["ok"]), str(body.get("detail", ""))
        known = self._store().acknowledge(car, ref, ok, detail, self._clock())
        LOG.info(
            "control %s: %s %s%s%s",
            ref.split(":")[0] if known else ref,
            car,
            "acknowledged" if ok else "refused",
            f": {detail}" if detail else "",
            "" if known else " (no operator request)",
        )


def _args(body: Mapping[str, Any]) -> str:
    if "max_power_w" not in body:
        return ""
    minutes = (float(body["until"]) - float(body["start"])) / 60.0
    return f"(at most {body['max_power_w']:g} W for {minutes:g} min)"
