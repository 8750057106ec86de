"""The signed manifest document's shape: each refused key named, the signed bytes unchanged."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.models.errors import ManifestError
from sandbox.models.manifest import FileEntry, Manifest, canonical_bytes, load_manifest

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()
WEIGHTS = {"path": "w.safetensors", "role": "weights", "sha256": "a" * 64, "size": 8}
TOKENIZER = {"path": "tokenizer.json", "role": "tokenizer", "sha256": "b" * 64, "size": 2}
BODY: dict[str, Any] = {
    "format": 1,
    "name": "toy",
    "family": "decoder",
    "config": {"hidden_size": 8},
    "files": [WEIGHTS, TOKENIZER],
}


def signed(tmp_path: Path, body: dict[str, Any]) -> Path:
    """``toy/manifest.json`` holding `body` as signed by `KEY`, whatever its shape."""
    d = tmp_path / "toy"
    d.mkdir(exist_ok=True)
    signature = base64.b64encode(KEY.sign(canonical_bytes(body))).decode()
    (d / "manifest.json").write_text(json.dumps({"manifest": body, "signature": signature}))
    return d


def changed(key: str, value: object, entry: int | None = None) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    target = body if entry is None else body["files"][entry]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return body


def test_canonical_bytes_are_those_signed_before() -> None:
    # The exact bytes earlier releases signed: sorted keys, no spaces, UTF-8 as is.
    manifest = Manifest("tøy", "decoder", {"b": 1.5, "a": [1]}, (FileEntry("w", "0" * 64, 1, "r"),))
    expected = (
        '{"config":{"a":[1],"b":1.5},"family":"decoder","files":[{"path":"w","role":"r",'
        '"sha256":"' + "0" * 64 + '","size":1}],"format":1,"name":"tøy"}'
    )
    assert canonical_bytes(manifest.to_json()) == expected.encode()


def test_a_valid_document_loads_with_unknown_keys_kept_signed(tmp_path: Path) -> None:
    body = {**changed("note", "later", entry=1), "extra": {"x": 1}}
    manifest = load_manifest(signed(tmp_path, body), PUBLIC)
    assert manifest.config == {"hidden_size": 8}
    assert manifest.files[0] == FileEntry("w.safetensors", "a" * 64, 8, "weights")
    assert [f.role for f in manifest.files] == ["weights", "tokenizer"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (changed("format", 2), "manifest format 2 is not supported (expected 1)"),
        (changed("format", KeyError), "manifest format None is not supported"),
        # The format is read first: a later format may change any other key.
        ({**changed("format", 2), "files": {}}, "manifest format 2 is not supported"),
        (changed("name", ""), "manifest has no model name"),
        (changed("name", 7), "manifest has no model name"),
        (changed("name", KeyError), "manifest has no model name"),
        (changed("family", "rnn"), "manifest family 'rnn' is not one of ('encoder', 'decoder')"),
        (changed("config", []), "manifest config must be an object"),
        (changed("files", []), "manifest lists no files"),
        (changed("files", "w"), "manifest lists no files"),
        (changed("files", [TOKENIZER]), "manifest lists no weights file"),
        (changed("files", [WEIGHTS, 3]), "manifest file entry 3 is not an object"),
        (changed("path", KeyError, 0), "manifest file entry without a path: {'role'"),
        (changed("path", 5, 0), "manifest file entry without a path"),
        (changed("path", "../w.safetensors", 0), "must stay inside the model dir"),
        (changed("path", "", 0), "must stay inside the model dir"),
        (changed("role", "pickle", 0), "has role 'pickle', expected one of ['config'"),
        (changed("role", 3, 0), "file 'w.safetensors' has role 3, expected one of"),
        (changed("path", "w.bin", 0), "weights file 'w.bin' must end with ('.safetensors',)"),
        (changed("sha256", "A" * 64, 0), "file 'w.safetensors' has no valid sha256 digest"),
        (changed("sha256", "a" * 64 + "\n", 1), "'tokenizer.json' has no valid sha256 digest"),
        (changed("sha256", KeyError, 0), "has no valid sha256 digest"),
        (changed("size", -1, 0), "file 'w.safetensors' has no valid size"),
        (changed("size", True, 1), "file 'tokenizer.json' has no valid size"),
        (changed("size", 8.0, 0), "has no valid size"),
    ],
)
def test_each_refused_key_is_named(tmp_path: Path, body: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError, match=r"^model 'toy': ") as caught:
        load_manifest(signed(tmp_path, body), PUBLIC)
    assert message in str(caught.value)


def test_a_family_that_quotes_a_path_does_not_misplace_the_error(tmp_path: Path) -> None:
    body = changed("family", "x - at `$.files[0].size`")
    with pytest.raises(ManifestError, match="manifest family 'x - at"):
        load_manifest(signed(tmp_path, body), PUBLIC)
