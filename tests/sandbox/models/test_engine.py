"""The decode engine: rows joining and leaving between steps give each prompt's own ids."""

from __future__ import annotations

import pytest
import torch

from sandbox.models.decoder import Decoder, DecoderConfig, load_decoder, random_decoder_state
from sandbox.models.engine import DecodeEngine, RowRequest
from sandbox.models.fast_decode import DecodeStep
from sandbox.models.generate import generate_ids
from sandbox.models.pacing import LayerPacer, no_check

from .conftest import Abort

CPU = torch.device("cpu")
PACER = LayerPacer(no_check, CPU)
PROMPTS = [[256, 72, 105, 33, 10, 20, 30, 40], [256, 5, 6], [256, 9], [256, 1, 2, 3, 4]]
NEW = [14, 9, 20, 6]
# The step at which each prompt joins (before that step's decode).
JOIN_AT = [0, 0, 3, 5]


def _model(seed: int = 3) -> Decoder:
    cfg = DecoderConfig(qkv_bias=True)
    return load_decoder(cfg, random_decoder_state(cfg, seed), CPU)


def _alone(model: Decoder, prompt: list[int], new: int) -> list[int]:
    return generate_ids(model, [prompt], max_new_tokens=new, pacer=PACER, eos_ids=()).ids[0]


def _staggered(engine: DecodeEngine) -> dict[int, list[int]]:
    """Join prompt i at step JOIN_AT[i] (into whichever row is free); collect ids on leave."""
    out: dict[int, list[int]] = {}
    owner: dict[int, int] = {}
    waiting = list(range(len(PROMPTS)))
    steps = 0
    while waiting or engine.active():
        while waiting and JOIN_AT[waiting[0]] <= steps and engine.free:
            i = waiting.pop(0)
            row = engine.join(RowRequest(PROMPTS[i], NEW[i], eos_ids=()), PACER)
            owner[row] = i
            if engine.row(row).done:
                out[i] = engine.leave(row).ids
        for row in engine.step(PACER):
            out[owner[row]] = engine.leave(row).ids
        steps += 1
    return out


@pytest.mark.parametrize("fast", [True, False])
def test_rows_joining_and_leaving_get_their_own_ids(fast: bool) -> None:
    model = _model()
    step = DecodeStep(model)
    if not fast:
        step.usable = False  # the general path, row by row
    engine = DecodeEngine(model, rows=3, step=step)
    got = _staggered(engine)
    for i, prompt in enumerate(PROMPTS):
        assert got[i] == _alone(model, prompt, NEW[i]), i
    assert engine.free == 3


def test_each_row_keeps_its_own_sampling_and_stopping() -> None:
    model = _model(7)
    engine = DecodeEngine(model, rows=2)
    greedy = _alone(model, PROMPTS[0], 10)
    seen: list[int] = []

    def stop_at_third(token: int) -> bool:
        seen.append(token)
        return len(seen) == 3

    sampled = RowRequest(
        PROMPTS[1],
        10,
        eos_ids=(),
        temperature=0.9,
        top_p=0.8,
        generator=torch.Generator().manual_seed(7),
    )
    cut = next(k for k in range(1, 10) if greedy[k] not in greedy[:k])  # its first new id
    a = engine.join(RowRequest(PROMPTS[0], 10, eos_ids={greedy[cut]}), PACER)
    b = engine.join(sampled, PACER)
    while engine.active():
        engine.step(PACER)
    assert engine.row(a).ids == greedy[:cut] and engine.row(a).stopped
    assert len(engine.row(b).ids) == 10 and not engine.row(b).stopped
    engine.leave(a)
    c = engine.join(RowRequest(PROMPTS[2], 10, eos_ids=(), on_token=stop_at_third), PACER)
    assert c == a  # the freed row is reused
    while engine.active():
        engine.step(PACER)
    assert engine.row(c).ids == seen == _alone(model, PROMPTS[2], 3)


def test_a_stop_stops_every_row_within_one_step(counting_check) -> None:
    model = _model()
    engine = DecodeEngine(model, rows=3)
    for i in range(3):
        engine.join(RowRequest(PROMPTS[i], 8, eos_ids=()), PACER)
    layers = model.config.num_layers + 2  # embedding, layers, head
    checks = counting_check()
    engine.step(LayerPacer(checks, CPU))
    assert checks.calls == 1 + layers  # one step for all rows: between steps, every layer
    stopping = counting_check(abort_at=3)
    with pytest.raises(Abort):
        engine.step(LayerPacer(stopping, CPU))
    assert stopping.calls == 3
    engine.clear()
    assert engine.free == 3 and not engine.active()


def test_requests_the_rows_cannot_hold_are_refused() -> None:
    from sandbox.models.errors import RequestError

    engine = DecodeEngine(_model(), rows=1, slots=16)
    with pytest.raises(RequestError):
        engine.join(RowRequest([256] * 10, 7, eos_ids=()), PACER)
    engine.join(RowRequest([256] * 10, 6, eos_ids=()), PACER)
    with pytest.raises(RequestError):
        engine.join(RowRequest([256], 1, eos_ids=()), PACER)
