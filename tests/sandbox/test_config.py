"""The [sandbox] section parses, and bad values are named."""

from __future__ import annotations

import pytest

from sandbox.config import SandboxConfig
from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config


def test_defaults_and_values() -> None:
    assert parse_config("").sandbox == SandboxConfig()
    config = parse_config(
        '[sandbox]\nmodels = ["a", "b"]\nstop_mode = "freeze"\nack_deadline_ms = 20\n'
    ).sandbox
    assert config.models == ("a", "b") and config.stop_mode == "freeze"
    assert config.ack_deadline_ms == 20.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[sandbox]\nstop_mode = "sleep"\n', "sandbox.stop_mode"),
        ("[sandbox]\nack_deadline_ms = 0\n", "sandbox.ack_deadline_ms"),
        ('[sandbox]\ndevice = "tpu"\n', "sandbox.device"),
        ("[sandbox]\nworkers = 3\n", "sandbox.workers"),
    ],
)
def test_bad_values_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "p.toml")
    assert info.value.key == key
