"""A library's own error for its file or key is reported as a configuration error, placed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.node import NodeSetupError, resolve_user
from supervisor.config.check import place
from supervisor.config.errors import ConfigError
from supervisor.config.library_errors import LIBRARY_ERRORS, as_config_error
from thermal.preferences import PreferenceError
from thermal.prefstore import PreferenceStore


def test_a_node_error_is_placed_at_its_key_in_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "parkmesh.toml"
    path.write_text('[sandbox]\nmodels = []\nworker_user = "no-such-user-parkmesh"\n')
    with pytest.raises(NodeSetupError) as info:
        resolve_user("no-such-user-parkmesh")
    assert isinstance(info.value, LIBRARY_ERRORS)
    placed = place(as_config_error(info.value), path)
    assert (placed.file, placed.line, placed.key) == (path, 3, "sandbox.worker_user")
    assert str(placed).startswith(f"{path}:3: [sandbox] sandbox.worker_user: user ")


def test_a_preferences_file_error_names_the_file_line_and_field(tmp_path: Path) -> None:
    store = PreferenceStore(tmp_path)
    store.path.write_text(json.dumps({"charge_floor_percent": 95}, indent=2))
    with pytest.raises(PreferenceError) as bad_value:
        store.load()
    assert isinstance(bad_value.value, LIBRARY_ERRORS)
    error = as_config_error(bad_value.value)
    assert (error.file, error.key) == (store.path, "charge_floor_percent")
    assert str(error) == f"{store.path}: charge_floor_percent: must be between 20 and 90 %, not 95"
    assert str(error) == str(bad_value.value)
    store.path.write_text('{\n  "charge_floor_percent": 50,\n  oops\n}\n')
    with pytest.raises(PreferenceError) as bad_json:
        store.load()
    assert (as_config_error(bad_json.value).line, as_config_error(bad_json.value).key) == (
        3,
        "preferences",
    )
    same = ConfigError("x", key="daemon.state_dir")
    assert as_config_error(same) is same
