"""The fast decode step equals the decoder's general forward, and steps aside when it would not."""

from __future__ import annotations

import torch
from torch import Tensor

from sandbox.models.decoder import Block, Decoder, DecoderConfig, load_decoder, random_decoder_state
from sandbox.models.fast_decode import DecodeStep
from sandbox.models.generate import generate_ids
from sandbox.models.pacing import LayerPacer, no_check

CPU = torch.device("cpu")
PROMPTS = [[256, 72, 105, 33, 10, 20, 30, 40], [256, 5, 6], [256, 9]]


def test_fast_step_verifies_and_generates_what_the_general_path_does(counting_check) -> None:
    cfg = DecoderConfig(qkv_bias=True, o_bias=True)  # biases go through the model's own modules
    model = load_decoder(cfg, random_decoder_state(cfg, 3), CPU)
    step = DecodeStep(model)
    assert step.verify() and step.usable
    pacer = LayerPacer(no_check, CPU)
    general = generate_ids(model, PROMPTS, max_new_tokens=24, pacer=pacer, eos_ids=())
    fast = generate_ids(model, PROMPTS, max_new_tokens=24, pacer=pacer, eos_ids=(), step=step)
    assert fast.ids == general.ids
    checks = counting_check()
    generate_ids(
        model, PROMPTS, max_new_tokens=5, pacer=LayerPacer(checks, CPU), step=step, eos_ids=()
    )
    assert checks.calls == 6 + 7 * 4  # still before every layer and between steps


class ShiftedBlock(Block):
    """A block whose forward does something the fast step does not know about."""

    def forward(self, x: Tensor, *args: object) -> Tensor:
        return super().forward(x, *args) + 0.5  # type: ignore[arg-type]


def test_a_model_the_step_does_not_match_keeps_the_general_path() -> None:
    cfg = DecoderConfig()
    model = load_decoder(cfg, random_decoder_state(cfg, 4), CPU)
    shifted = Decoder(cfg)
    shifted.load_state_dict(model.state_dict())
    shifted.layers = torch.nn.ModuleList(ShiftedBlock(cfg) for _ in range(cfg.num_layers))
    shifted.load_state_dict(model.state_dict())
    shifted.eval()
    step = DecodeStep(shifted)
    pacer = LayerPacer(no_check, CPU)
    made = generate_ids(shifted, PROMPTS, max_new_tokens=12, pacer=pacer, eos_ids=(), step=step)
    assert step.usable is False
    assert (
        made.ids == generate_ids(shifted, PROMPTS, max_new_tokens=12, pacer=pacer, eos_ids=()).ids
    )
