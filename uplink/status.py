"""The node's status message: what it contains, its tier, and when it is worth publishing.

Status is retained on ``<p>/nodes/<id>/status`` and published on change but at most once per
``status_min_interval_s`` (a flapping door must not flood the broker); a change that arrives
inside the interval is published when the interval ends. Pure and synchronous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .link import LinkInfo
from .messages import Tier
from .node_port import NodeStatus
from .offers import METERED_REFUSED

FAST_TYPES = frozenset({"wifi", "ethernet"})


def tier_for(link: LinkInfo, rtt_ms: float | None, max_rtt_ms: float) -> Tier:
    """Interactive for an unmetered Wi-Fi or Ethernet link measured faster than `max_rtt_ms`."""
    fast = rtt_ms is not None and rtt_ms <= max_rtt_ms
    if link.type in FAST_TYPES and not link.metered and fast:
        return Tier.INTERACTIVE
    return Tier.BATCH


def status_body(
    status: NodeStatus,
    *,
    link: LinkInfo,
    rtt_ms: float | None,
    tier: Tier,
    running: int,
    draining: bool,
    online: bool = True,
) -> dict[str, Any]:
    """The body of a ``status`` message (see ``docs/protocol.md``). A metered link the owner
    does not allow jobs over makes the node not accepting, with that reason."""
    metered_refused = link.metered and not status.metered_links_allowed
    return {
        "online": online,
        "accepting": status.accepting and not draining and not metered_refused,
        "reasons": list(status.reasons)
        + (["draining"] if draining else [])
        + ([METERED_REFUSED] if metered_refused else []),
        "models": sorted(status.models),
        "power_w": round(float(status.allowed_power_w), 1),
        "runway_s": round(float(status.runway_s), 0),
        "link": {
            "type": link.type,
            "metered": link.metered,
            "source": link.source,
            "rtt_ms": None if rtt_ms is None else round(rtt_ms, 1),
        },
        "tier": tier.value,
        "worker_key": status.worker_key,
        "running": running,
        "slots": status.slots,
        "draining": draining,
        "kind": status.kind,
    }


def offline_body() -> dict[str, Any]:
    """The body of the Will and of the last status on a clean shutdown."""
    return {"online": False, "accepting": False, "reasons": ["offline"]}


def _significant(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """RTT jitter alone is not a change worth a message; its tier is."""
    link = dict(body.get("link") or {})
    link.pop("rtt_ms", None)
    return {**body, "link": link}


@dataclass
class StatusGate:
    """Decides when a status body is published: on change, rate-limited."""

    min_interval_s: float
    last_body: Mapping[str, Any] | None = None
    last_at: float = field(default=float("-inf"))
    force: bool = True

    def changed(self, body: Mapping[str, Any]) -> bool:
        """Whether `body` is worth publishing, rate limit aside."""
        return (
            self.force
            or self.last_body is None
            or _significant(body) != _significant(self.last_body)
        )

    def due(self, body: Mapping[str, Any], now: float) -> bool:
        """Whether `body` should be published now."""
        return self.changed(body) and now - self.last_at >= self.min_interval_s

    def wait_s(self, body: Mapping[str, Any], now: float) -> float:
        """Seconds until `body` is due: 0 when due now, infinity when it is no change."""
        if not self.changed(body):
            return float("inf")
        return max(0.0, self.last_at + self.min_interval_s - now)

    def sent(self, body: Mapping[str, Any], now: float) -> None:
        """Record that `body` went out at `now`."""
        self.last_body, self.last_at, self.force = body, now, False

    def invalidate(self) -> None:
        """Publish the next status whatever it says (after a reconnect)."""
        self.force = True
