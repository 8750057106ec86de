"""Provisioning: idempotent, key kept private, the CLI prints what it wrote."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sandbox.models.provision import PRIVATE_KEY_FILE, main, provision_models


def test_provisioning_is_idempotent_and_keeps_the_key(
    models_dir: Path, operator_key: bytes
) -> None:
    manifests = {p: p.read_bytes() for p in models_dir.glob("*/manifest.json")}
    assert len(manifests) == 2
    again = provision_models(models_dir)
    assert again.operator_public_key == operator_key
    # Same files and digests, and Ed25519 signatures are deterministic: identical bytes.
    assert {p: p.read_bytes() for p in models_dir.glob("*/manifest.json")} == manifests
    mode = stat.S_IMODE((models_dir / PRIVATE_KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_cli_prints_json(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(models_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"] == ["all-MiniLM-L6-v2", "tiny-llama-test"]
    assert len(bytes.fromhex(out["operator_public_key"])) == 32


def test_cli_names_an_unwritable_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([str(blocker / "models")]) == 1
    assert "error" in json.loads(capsys.readouterr().err)
