"""Node checks: a missing user, key or operator key is a configuration error naming the key."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.config import SandboxConfig
from sandbox.node import NodeSetupError, prepare, read_operator_key, resolve_user


def test_missing_user_names_the_key() -> None:
    with pytest.raises(NodeSetupError) as info:
        resolve_user("no-such-user-parkmesh")
    assert info.value.key == "sandbox.worker_user" and "provision" in str(info.value)
    assert resolve_user("4242") == (4242, 4242)


def test_missing_worker_key_and_bad_operator_key(node: SandboxConfig) -> None:
    facts = prepare(node)
    assert len(facts.worker_public_key) == 32 and facts.device in ("cpu", "cuda")
    with pytest.raises(NodeSetupError) as info:
        prepare(dataclasses.replace(node, worker_key=node.worker_key.with_name("gone.key")))
    assert info.value.key == "sandbox.worker_key"
    (node.models_dir / "operator-dev.pub").write_text("zz")
    with pytest.raises(NodeSetupError, match="64 hex digits"):
        read_operator_key(node)
