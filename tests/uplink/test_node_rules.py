"""Offer admission, tier, status rate limit and back-off: the node's pure rules."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from uplink.backoff import Backoff
from uplink.link import LinkInfo, map_networkmanager
from uplink.messages import FailureReason, Tier
from uplink.node_port import Job, NodeStatus
from uplink.offers import decide
from uplink.status import StatusGate, tier_for

READY = NodeStatus(accepting=True, models=("hash",), worker_key=b"w" * 32, slots=1)


def job(**kw: Any) -> Job:
    base = {
        "job_id": "j",
        "model": "hash",
        "tier": Tier.BATCH,
        "deadline": 100.0,
        "sealed_input": b"x",
    }
    return Job(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "status", "running", "draining", "tier", "reason", "words"),
    [
        ({"deadline": 5.0}, READY, 0, False, Tier.BATCH, FailureReason.EXPIRED, "deadline"),
        ({}, READY, 0, True, Tier.BATCH, FailureReason.DECLINED, "draining"),
        (
            {},
            NodeStatus(False, ("driver door open",)),
            0,
            False,
            Tier.BATCH,
            FailureReason.DECLINED,
            "driver door open",
        ),
        ({}, READY, 1, False, Tier.BATCH, FailureReason.DECLINED, "busy"),
        ({"model": "llama"}, READY, 0, False, Tier.BATCH, FailureReason.DECLINED, "llama"),
        (
            {"tier": Tier.INTERACTIVE},
            READY,
            0,
            False,
            Tier.BATCH,
            FailureReason.DECLINED,
            "interactive",
        ),
    ],
)
def test_offers_are_declined_with_a_reason(
    kw: dict[str, Any],
    status: NodeStatus,
    running: int,
    draining: bool,
    tier: Tier,
    reason: FailureReason,
    words: str,
) -> None:
    refusal = decide(job(**kw), status, now=10.0, running=running, draining=draining, tier=tier)
    assert refusal is not None
    assert refusal.reason is reason
    assert words in refusal.detail


def test_a_fitting_offer_is_accepted() -> None:
    assert (
        decide(
            job(tier=Tier.INTERACTIVE),
            READY,
            now=10.0,
            running=0,
            draining=False,
            tier=Tier.INTERACTIVE,
        )
        is None
    )


def test_tier_needs_fast_unmetered_link() -> None:
    wifi = LinkInfo("wifi", False, "config")
    assert tier_for(wifi, 20.0, 60.0) is Tier.INTERACTIVE
    assert tier_for(wifi, 200.0, 60.0) is Tier.BATCH
    assert tier_for(wifi, None, 60.0) is Tier.BATCH
    assert tier_for(LinkInfo("wifi", True, "config"), 20.0, 60.0) is Tier.BATCH
    assert tier_for(LinkInfo("cellular", False, "config"), 20.0, 60.0) is Tier.BATCH


def test_networkmanager_properties_map_to_a_link() -> None:
    fallback = LinkInfo("wifi", False, "config")
    assert map_networkmanager("gsm", 1, fallback) == LinkInfo("cellular", True, "networkmanager")
    assert map_networkmanager("802-3-ethernet", 4, fallback).metered is False
    assert map_networkmanager("802-11-wireless", 0, fallback).metered is False  # unknown


def test_status_is_sent_on_change_but_rate_limited() -> None:
    gate = StatusGate(min_interval_s=2.0)
    a = {"accepting": True, "link": {"type": "wifi", "rtt_ms": 10.0}}
    assert gate.due(a, 0.0)
    gate.sent(a, 0.0)
    assert not gate.due(a, 5.0)  # unchanged
    assert not gate.due({**a, "link": {"type": "wifi", "rtt_ms": 11.0}}, 5.0)  # jitter only
    b = {**a, "accepting": False}
    assert not gate.due(b, 1.0)  # changed, but too soon
    assert gate.due(b, 2.5)
    gate.sent(b, 2.5)
    gate.invalidate()
    assert gate.due(b, 4.5)


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    assert max(delays[6:]) > max(delays[:2])
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_uplink_config_cross_checks_name_the_key(tmp_path: Path) -> None:
    from dataclasses import replace

    from supervisor.config.check import check_uplink
    from supervisor.config.errors import ConfigError
    from uplink import pki
    from uplink.config import UplinkConfig

    # Real PEM files: the check loads them as the TLS client will.
    ca = pki.make_ca(tmp_path / "pki")
    node = pki.issue(ca, tmp_path / "pki", "car1")
    good = UplinkConfig(
        enabled=True,
        node_id="car1",
        dispatcher_public_key="ab" * 32,
        ca_file=ca.cert,
        cert_file=node.cert,
        key_file=node.key,
        signing_key_file=tmp_path / "state" / "node.ed25519",
        state_file=tmp_path / "state" / "uplink.sqlite3",
    )
    check_uplink(good)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"node_id": ""}, "uplink.node_id"),
        ({"node_id": "a/b"}, "uplink.node_id"),
        ({"dispatcher_public_key": "zz"}, "uplink.dispatcher_public_key"),
        ({"topic_prefix": "a/#"}, "uplink.topic_prefix"),
        ({"cert_file": tmp_path / "missing"}, "uplink.cert_file"),
        ({"reconnect_max_s": 0.1}, "uplink.reconnect_max_s"),
    ]
    for change, key in cases:
        with pytest.raises(ConfigError) as info:
            check_uplink(replace(good, **change), "/etc/parkmesh/parkmesh.toml")
        assert info.value.key == key
        assert "/etc/parkmesh/parkmesh.toml" in str(info.value)
