"""Model configs read from a manifest: unknown and mistyped keys are refused by name."""

from __future__ import annotations

import pytest

from sandbox.models.decoder_config import DecoderConfig
from sandbox.models.encoder import EncoderConfig
from sandbox.models.errors import ModelError


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "decoder config must be an object"),
        ({"hidden": 1, "extra": 2}, "decoder config: unknown keys ['extra', 'hidden']"),
        ({"num_layers": "4"}, "decoder config: num_layers must be int, got str"),
        ({"num_layers": 4.0}, "decoder config: num_layers must be int, got float"),
        ({"num_layers": True}, "decoder config: num_layers must be int, got bool"),
        ({"qkv_bias": 1}, "decoder config: qkv_bias must be bool, got int"),
        ({"dtype": None}, "decoder config: dtype must be str, got NoneType"),
        ({"rope_theta": "1e4"}, "decoder config: rope_theta must be float, got str"),
        ({"num_heads": 8, "num_kv_heads": 3}, "must divide evenly"),
    ],
)
def test_a_bad_decoder_config_is_named(raw: object, message: str) -> None:
    with pytest.raises(ModelError) as caught:
        DecoderConfig.from_dict(raw)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_an_integer_is_taken_for_a_float_and_defaults_fill_the_rest() -> None:
    config = DecoderConfig.from_dict({"rope_theta": 500000, "num_layers": 2})
    assert config.rope_theta == 500000.0 and isinstance(config.rope_theta, float)
    assert config == DecoderConfig(num_layers=2, rope_theta=500000.0)
    assert DecoderConfig.from_dict(config.to_dict()) == config


def test_the_encoder_config_is_read_the_same_way() -> None:
    assert EncoderConfig.from_dict({}) == EncoderConfig()
    with pytest.raises(ModelError, match="encoder config: max_tokens must be int, got list"):
        EncoderConfig.from_dict({"max_tokens": [1]})
    with pytest.raises(ModelError, match="max_tokens 4096 must lie in"):
        EncoderConfig.from_dict({"max_tokens": 4096})
