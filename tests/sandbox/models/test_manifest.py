"""Signed manifests: round trip, and every kind of tampering refused with a clear error."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sandbox.models.errors import ManifestError
from sandbox.models.manifest import (
    FileEntry,
    Manifest,
    describe_file,
    load_manifest,
    read_verified_file,
    verify_files,
    write_manifest,
)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _safetensors_bytes() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def model_dir(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    """A tiny signed model 'toy' with one weights file and one tokenizer file."""
    d = tmp_path / "toy"
    d.mkdir()
    (d / "w.safetensors").write_bytes(_safetensors_bytes())
    (d / "tokenizer.json").write_text("{}")
    files = (
        describe_file(d, "w.safetensors", "weights"),
        describe_file(d, "tokenizer.json", "tokenizer"),
    )
    write_manifest(d, Manifest("toy", "decoder", {"hidden_size": 8}, files), key)
    return d


def _resign(
    d: Path, key: Ed25519PrivateKey, files: tuple[FileEntry, ...], name: str = "toy"
) -> None:
    write_manifest(d, Manifest(name, "decoder", {}, files), key)


def test_round_trip(model_dir: Path, key: Ed25519PrivateKey) -> None:
    manifest = load_manifest(model_dir, _raw_public(key))
    assert manifest.name == "toy"
    assert manifest.family == "decoder"
    assert manifest.config == {"hidden_size": 8}
    assert [f.path for f in manifest.files] == ["w.safetensors", "tokenizer.json"]
    verify_files(model_dir, manifest)
    data = read_verified_file(model_dir, manifest, manifest.file("weights"))
    assert data == _safetensors_bytes()


def test_tampered_weight_file_is_refused(model_dir: Path, key: Ed25519PrivateKey) -> None:
    manifest = load_manifest(model_dir, _raw_public(key))
    path = model_dir / "w.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # same size, one bit flipped in a tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"SHA-256 of .*w\.safetensors.*tampered"):
        verify_files(model_dir, manifest)


def test_truncated_weight_file_is_refused(model_dir: Path, key: Ed25519PrivateKey) -> None:
    manifest = load_manifest(model_dir, _raw_public(key))
    (model_dir / "w.safetensors").write_bytes(_safetensors_bytes()[:-4])
    with pytest.raises(ManifestError, match="bytes, manifest pins"):
        verify_files(model_dir, manifest)


def test_manifest_signed_by_another_key_is_refused(model_dir: Path) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ManifestError, match="bad manifest signature"):
        load_manifest(model_dir, _raw_public(other))


def test_edited_manifest_is_refused(model_dir: Path, key: Ed25519PrivateKey) -> None:
    path = model_dir / "manifest.json"
    doc = json.loads(path.read_text())
    doc["manifest"]["files"][0]["sha256"] = "0" * 64  # point the pin at other weights
    path.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="bad manifest signature"):
        load_manifest(model_dir, _raw_public(key))


def test_wrong_digest_in_a_signed_manifest_is_refused(
    model_dir: Path, key: Ed25519PrivateKey
) -> None:
    # The operator signed a digest that is not the file's: the signature holds, the file fails.
    size = (model_dir / "w.safetensors").stat().st_size
    _resign(model_dir, key, (FileEntry("w.safetensors", "ab" * 32, size, "weights"),))
    manifest = load_manifest(model_dir, _raw_public(key))
    with pytest.raises(ManifestError, match="manifest pins abab"):
        verify_files(model_dir, manifest)


def test_missing_file_is_refused(model_dir: Path, key: Ed25519PrivateKey) -> None:
    manifest = load_manifest(model_dir, _raw_public(key))
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ManifestError, match=r"missing file .*tokenizer\.json"):
        verify_files(model_dir, manifest)


def test_missing_manifest_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(tmp_path, _raw_public(key))


@pytest.mark.parametrize("name", ["model.bin", "model.pt", "weights.pkl"])
def test_pickle_weights_are_refused_by_name(
    model_dir: Path, key: Ed25519PrivateKey, name: str
) -> None:
    (model_dir / name).write_bytes(b"\x80\x04pickle")
    _resign(model_dir, key, (describe_file(model_dir, name, "weights"),))
    with pytest.raises(ManifestError, match="safetensors only"):
        load_manifest(model_dir, _raw_public(key))


def test_pickle_bytes_named_safetensors_are_refused(
    model_dir: Path, key: Ed25519PrivateKey
) -> None:
    import pickle

    (model_dir / "w.safetensors").write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    _resign(model_dir, key, (describe_file(model_dir, "w.safetensors", "weights"),))
    manifest = load_manifest(model_dir, _raw_public(key))
    with pytest.raises(ManifestError, match="is not a safetensors file"):
        verify_files(model_dir, manifest)


def test_safetensors_offsets_past_the_end_are_refused(
    model_dir: Path, key: Ed25519PrivateKey
) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (model_dir / "w.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    _resign(model_dir, key, (describe_file(model_dir, "w.safetensors", "weights"),))
    manifest = load_manifest(model_dir, _raw_public(key))
    with pytest.raises(ManifestError, match="invalid data offsets"):
        verify_files(model_dir, manifest)


def test_manifest_of_another_model_is_refused(model_dir: Path, key: Ed25519PrivateKey) -> None:
    files = load_manifest(model_dir, _raw_public(key)).files
    _resign(model_dir, key, files, name="other")
    with pytest.raises(ManifestError, match="signed for model 'other'"):
        load_manifest(model_dir, _raw_public(key))


@pytest.mark.parametrize("path", ["../escape.safetensors", "/etc/w.safetensors"])
def test_paths_outside_the_model_dir_are_refused(
    model_dir: Path, key: Ed25519PrivateKey, path: str
) -> None:
    entry = FileEntry(path, "ab" * 32, 8, "weights")
    _resign(model_dir, key, (entry,))
    with pytest.raises(ManifestError, match="must stay inside the model dir"):
        load_manifest(model_dir, _raw_public(key))


def test_garbage_manifest_and_bad_key_are_named(model_dir: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(ManifestError, match="32 raw bytes"):
        load_manifest(model_dir, b"short")
    (model_dir / "manifest.json").write_text("not json")
    with pytest.raises(ManifestError, match="is not a manifest document"):
        load_manifest(model_dir, _raw_public(key))
