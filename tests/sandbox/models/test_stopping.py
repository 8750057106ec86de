"""Stopping generation: several eos ids, stop strings (never streamed), the reused static cache,
and the check before every layer still in place."""

from __future__ import annotations

import pytest
import torch

from sandbox.models.generate import generate_ids
from sandbox.models.pacing import LayerPacer, no_check
from sandbox.models.runtime import LoadedDecoder
from sandbox.models.static_cache import StaticKVCache, bucket
from sandbox.models.text import StopText, StreamDecoder, build_byte_tokenizer

CPU = torch.device("cpu")


def test_stop_text_cuts_at_the_first_stop_and_never_emits_part_of_one() -> None:
    stop = StopText(["END", "\n\n"])
    emitted = [stop.push(p) for p in ["Hello E", "N", "ough. E", "ND more"]]
    assert emitted == ["Hello ", "", "ENough. ", ""]  # "EN" could still become "END"
    assert stop.stopped and stop.text == "Hello ENough. "
    assert stop.push("later") == "" and stop.finish() == ""
    held = StopText(["END"])
    assert held.push("abcE") == "abc"
    assert held.finish() == "E" and held.text == "abcE" and not held.stopped
    plain = StopText([])
    assert plain.push("x") == "x" and plain.finish() == ""


def test_stream_decoder_pieces_make_the_text_in_linear_windows() -> None:
    tok = build_byte_tokenizer()
    text = "héllo wörld ✓ — 🚗 parked"
    stream = StreamDecoder(tok)
    pieces = [stream.push(b) for b in text.encode()]
    pieces.append(stream.flush())
    assert "".join(pieces) == text
    assert "\ufffd" not in "".join(pieces)


def test_several_eos_ids_end_a_row(decoder: LoadedDecoder) -> None:
    prompt = [decoder.model.config.bos_id, *b"Eos ids"]
    pacer = LayerPacer(no_check, CPU)
    ids = generate_ids(decoder.model, [prompt], max_new_tokens=24, pacer=pacer, eos_ids=()).ids[0]
    assert len(ids) == 24
    eos = {ids[6], ids[9]}
    cut = min(i for i, t in enumerate(ids) if t in eos)
    made = generate_ids(decoder.model, [prompt], max_new_tokens=24, pacer=pacer, eos_ids=eos)
    assert made.ids[0] == ids[:cut] and made.stopped == [True]
    done = decoder.complete_batch(["Eos ids"], max_new_tokens=24, check=no_check, eos_ids=eos)[0]
    assert (done.finish_reason, done.tokens) == ("stop", cut)
    assert done.text == decoder.tokenizer.decode(ids[:cut], skip_special_tokens=True)
    free = decoder.complete_batch(["Eos ids"], max_new_tokens=24, check=no_check, eos_ids=())[0]
    assert (free.finish_reason, free.tokens) == ("length", 24)


def test_stop_strings_cut_the_text_and_the_stream(decoder: LoadedDecoder, counting_check) -> None:
    full = decoder.generate("Stop strings", max_new_tokens=30, check=no_check, eos_ids=())
    stop = full[10:13]
    pieces: list[str] = []
    check = counting_check()
    done = decoder.complete_batch(
        ["Stop strings", "other"],
        max_new_tokens=30,
        check=check,
        on_token=lambda row, piece: pieces.append(piece) if row == 0 else None,
        stop=[stop, "never-seen"],
        eos_ids=(),
    )
    assert done[0].text == full[: full.index(stop)]
    assert done[0].finish_reason == "stop"
    assert "".join(pieces) == done[0].text
    assert done[1].finish_reason == "length"
    # Every step still checks before each of its 6 layers, and once between steps.
    assert check.calls == 6 + 7 * 29


def test_static_cache_is_reused_and_equals_a_fresh_cache(decoder: LoadedDecoder) -> None:
    model = decoder.model
    prompts = [[256, 72, 105, 33, 10, 20, 30], [256, 5, 6]]
    pacer = LayerPacer(no_check, CPU)
    fresh = generate_ids(model, prompts, max_new_tokens=20, pacer=pacer, eos_ids=())
    cache = StaticKVCache(model.config, CPU, torch.float32)
    first = generate_ids(model, prompts, max_new_tokens=20, pacer=pacer, eos_ids=(), cache=cache)
    capacity = cache.capacity
    again = generate_ids(
        model, prompts[::-1], max_new_tokens=20, pacer=pacer, eos_ids=(), cache=cache
    )
    assert first.ids == fresh.ids and again.ids == fresh.ids[::-1]
    assert cache.capacity == capacity == (2, 256)
    view = cache.view(6, 300)
    assert cache.capacity == (8, 512) and view.keys[0].shape[0] == 6 and view.slots == 300


def test_an_aborted_job_leaves_the_cache_usable(decoder: LoadedDecoder, counting_check) -> None:
    before = decoder.generate("After abort", max_new_tokens=16, check=no_check)
    with pytest.raises(Exception, match="stopped at check 30"):
        decoder.generate("Something else entirely", max_new_tokens=50, check=counting_check(30))
    assert decoder.generate("After abort", max_new_tokens=16, check=no_check) == before


def test_buckets() -> None:
    assert [bucket(n, 1) for n in (1, 2, 3, 8, 9)] == [1, 2, 4, 8, 16]
    assert bucket(10, 256, 512) == 256 and bucket(300, 256, 512) == 512
    assert bucket(600, 256, 512) == 600  # never below what is asked
