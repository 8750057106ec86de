"""``[sandbox]`` checks across fields: model names stay inside models_dir, back-offs in order."""

from __future__ import annotations

import pytest

from supervisor.config.errors import ConfigError
from supervisor.config.load import parse_config


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        ('["../etc"]', "model '../etc' must be a folder name inside models_dir"),
        ('["a/b"]', "model 'a/b' must be a folder name inside models_dir"),
        ('[""]', "model '' must be a folder name inside models_dir"),
        ('["m", "n", "m"]', "lists 'm' more than once"),
    ],
)
def test_model_names(models: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[sandbox]\nmodels = {models}\n", "p.toml")
    assert str(info.value) == f"p.toml:2: [sandbox] sandbox.models: {problem}"


def test_the_longest_back_off_may_not_be_below_the_first() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[sandbox]\nrestart_backoff_s = 5\nrestart_backoff_max_s = 2\n", "p.toml")
    assert str(info.value) == (
        "p.toml:3: [sandbox] sandbox.restart_backoff_max_s: must not be below "
        "restart_backoff_s (5), not 2"
    )
    config = parse_config("[sandbox]\nrestart_backoff_s = 2\nrestart_backoff_max_s = 2\n").sandbox
    assert config.restart_backoff_max_s == 2.0
