"""The replay cache forgets what expired and stays bounded without letting replays through."""

from __future__ import annotations

import pytest

from uplink.errors import Replayed
from uplink.replay import ReplayCache


def test_seen_id_is_refused_until_it_expires() -> None:
    cache = ReplayCache()
    cache.check_and_add("d", "a", expires=10.0, now=0.0)
    with pytest.raises(Replayed):
        cache.check_and_add("d", "a", expires=10.0, now=5.0)
    cache.check_and_add("other", "a", expires=10.0, now=5.0)  # ids are per sender
    cache.prune(11.0)
    assert len(cache) == 0


def test_full_cache_raises_its_floor_instead_of_forgetting_silently() -> None:
    cache = ReplayCache(max_entries=2)
    cache.check_and_add("d", "a", expires=10.0, now=0.0)
    cache.check_and_add("d", "b", expires=20.0, now=0.0)
    cache.check_and_add("d", "c", expires=30.0, now=0.0)  # evicts "a", floor = 10
    assert len(cache) == 2
    assert cache.floor == 10.0
    with pytest.raises(Replayed, match="floor"):
        cache.check_and_add("d", "a", expires=10.0, now=1.0)  # "a" again: still refused
    with pytest.raises(Replayed):
        cache.check_and_add("d", "b", expires=20.0, now=1.0)
