"""``metered_links_allowed = false``: a node on a metered link (cellular, satellite) takes no
job and says why in its status; on an unmetered link, or when the owner allows it, it takes
them as before."""

from __future__ import annotations

from uplink.link import LinkInfo
from uplink.messages import FailureReason, Tier
from uplink.node_port import Job, NodeStatus
from uplink.offers import METERED_REFUSED, decide
from uplink.status import status_body

JOB = Job("j1", "m", Tier.BATCH, deadline=2000.0, sealed_input=b"x")


def _status(allowed: bool) -> NodeStatus:
    return NodeStatus(accepting=True, models=("m",), slots=1, metered_links_allowed=allowed)


def _decide(allowed: bool, metered: bool):
    return decide(
        JOB,
        _status(allowed),
        now=1000.0,
        running=0,
        draining=False,
        tier=Tier.BATCH,
        metered=metered,
    )


def test_an_offer_over_a_metered_link_is_declined_when_the_owner_forbids_it() -> None:
    refusal = _decide(allowed=False, metered=True)
    assert refusal is not None
    assert (refusal.reason, refusal.detail) == (FailureReason.DECLINED, METERED_REFUSED)
    assert _decide(allowed=True, metered=True) is None
    assert _decide(allowed=False, metered=False) is None


def test_the_status_says_not_accepting_and_why_on_a_forbidden_metered_link() -> None:
    cellular = LinkInfo("cellular", True, "networkmanager")
    wifi = LinkInfo("wifi", False, "networkmanager")

    def body(allowed: bool, link: LinkInfo) -> dict[str, object]:
        return status_body(
            _status(allowed), link=link, rtt_ms=20.0, tier=Tier.BATCH, running=0, draining=False
        )

    refused = body(False, cellular)
    assert refused["accepting"] is False and METERED_REFUSED in refused["reasons"]
    assert body(True, cellular)["accepting"] is True
    assert body(False, wifi)["accepting"] is True
