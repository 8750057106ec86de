"""Checking a sentence-transformers checkpoint (BERT family) for import; the encoder's side of
`sandbox.models.importer`.

The project's encoder computes BERT followed by mean pooling and L2 normalisation. A
checkpoint is accepted only if that is what its sentence-transformers modules say
(``modules.json``: Transformer, Pooling with mean tokens only, Normalize), its ``config.json``
is a plain BERT (gelu, absolute positions), and its tensors are exactly the encoder's. The
window is the model's own (`encoder.encoder_window`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sandbox.models.checkpoint import Checkpoint, read_json_object
from sandbox.models.errors import CheckpointError

if TYPE_CHECKING:  # the module itself imports torch only when it checks tensors
    from sandbox.models.encoder import EncoderConfig

MODULES: Final = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)
_POOLING_MODES: Final = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)
SENTENCE_CONFIG: Final = "sentence_bert_config.json"


def encoder_config_for(checkpoint: Checkpoint) -> EncoderConfig:
    """The `EncoderConfig` of a sentence-transformers BERT checkpoint, window included.

    Raises:
        CheckpointError: no ``modules.json``, other modules or pooling, tensors that do not fit.
        ModelError: a BERT setting the encoder does not compute (activation, positions).
    """
    from sandbox.models.encoder import EncoderConfig, encoder_window

    source = checkpoint.source
    modules = _read_modules(source / "modules.json")
    types = tuple(m.get("type") for m in modules)
    if types != MODULES:
        raise CheckpointError(
            f"{source / 'modules.json'} lists {list(types)}; only {list(MODULES)} "
            "(mean pooling, normalised) is built"
        )
    pooling = read_json_object(source / str(modules[1].get("path", "")) / "config.json")
    if pooling.get("pooling_mode_mean_tokens") is not True or any(
        pooling.get(mode) for mode in _POOLING_MODES
    ):
        raise CheckpointError(f"{source}: only mean-token pooling is built ({pooling})")
    config = checkpoint.config
    try:
        return EncoderConfig.from_hf_bert(config, max_tokens=encoder_window(source, config))
    except KeyError as exc:
        raise CheckpointError(f"{source / 'config.json'} has no {exc}") from None


def check_encoder_tensors(checkpoint: Checkpoint, cfg: EncoderConfig) -> None:
    """The checkpoint's tensors must be exactly the encoder's, in shape and float dtype.

    Raises:
        CheckpointError: naming the first tensor missing, extra or of the wrong shape.
    """
    from sandbox.models.encoder import expected_encoder_shapes, rename_hf_bert

    stored = rename_hf_bert(checkpoint.tensors)
    expected = expected_encoder_shapes(cfg)
    if missing := sorted(expected.keys() - stored.keys()):
        raise CheckpointError(f"{checkpoint.source}: tensor {missing[0]!r} is missing")
    if extra := sorted(stored.keys() - expected.keys()):
        raise CheckpointError(f"{checkpoint.source}: tensor {extra[0]!r} is not the encoder's")
    for key, (shard, info) in stored.items():
        if info.shape != expected[key] or info.dtype not in ("F32", "F16", "BF16"):
            raise CheckpointError(
                f"{checkpoint.source / shard}: tensor {key!r} is {info.dtype} "
                f"{list(info.shape)}, the config needs a float {list(expected[key])}"
            )


def _read_modules(path: Path) -> list[dict[str, Any]]:
    """``modules.json``: a JSON list of objects."""
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(
            f"missing file {path} (an encoder must be a sentence-transformers model)"
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, list) or len(raw) != len(MODULES):
        raise CheckpointError(f"{path} must list the modules {list(MODULES)}")
    if not all(isinstance(m, dict) for m in raw):
        raise CheckpointError(f"{path} must hold a list of objects")
    return raw
