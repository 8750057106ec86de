"""Chat jobs on a real decoder, in process: the template, the generation config's defaults and
eos ids, the model's limit, and who is blamed when something is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sandbox.job_compute import JobComputer, load_chat_settings
from sandbox.jobs import ChatMessage, JobInputError, Request
from sandbox.models.errors import ModelError, RequestError
from sandbox.models.generate import generate_ids
from sandbox.models.pacing import LayerPacer, no_check
from sandbox.models.registry import load_model
from sandbox.models.runtime import LoadedDecoder

from .chat_templates import LLAMA3, MISTRAL, write_chat_model

TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>"}
USER = (ChatMessage("user", "Hello there"),)


def computer(
    models_dir: Path, into: Path, key: bytes, template: str, gen: dict | None
) -> JobComputer:
    write_chat_model(models_dir, "chat-test", {**TOKENS, "chat_template": template}, gen, into)
    model = load_model("chat-test", into, "cpu", key)
    return JobComputer(
        model, "chat-test", load_chat_settings(model, into / "chat-test", key), None, None
    )


def chat(max_new_tokens: int = 12, **fields: object) -> Request:
    return Request("chat", bytes(32), max_new_tokens=max_new_tokens, messages=USER, **fields)  # type: ignore[arg-type]


def test_chat_renders_the_template_and_replies(
    models_dir: Path, tmp_path: Path, operator_key: bytes, decoder: LoadedDecoder
) -> None:
    jobs = computer(models_dir, tmp_path, operator_key, LLAMA3, None)
    out = jobs.compute(chat(temperature=None, top_p=None), no_check)
    prompt = (
        "<bos><|start_header_id|>user<|end_header_id|>\n\nHello there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    expected = decoder.complete_batch([prompt], max_new_tokens=12, check=no_check, add_bos=False)[0]
    assert out == {
        "message": {"role": "assistant", "content": expected.text},
        "finish_reason": expected.finish_reason,
    }
    stop = expected.text[3:5]
    cut = jobs.compute(chat(stop=(stop,)), no_check)
    assert cut["message"]["content"] == expected.text[: expected.text.index(stop)]
    assert cut["finish_reason"] == "stop"


def test_generation_config_sets_eos_ids_and_sampling_defaults(
    models_dir: Path, tmp_path: Path, operator_key: bytes, decoder: LoadedDecoder
) -> None:
    gen = {"eos_token_id": [], "do_sample": True, "temperature": 0.9, "top_p": 0.8}
    probe = computer(models_dir, tmp_path / "a", operator_key, LLAMA3, gen)
    prompt = probe.chat.render([{"role": "user", "content": "Hello there"}], "m")
    prompt_ids = decoder.tokenizer.encode(prompt, add_special_tokens=False).ids
    pacer = LayerPacer(no_check, torch.device("cpu"))
    free = generate_ids(decoder.model, [prompt_ids], max_new_tokens=20, pacer=pacer, eos_ids=())
    eos = [free.ids[0][4], 3]  # a token the greedy reply contains, and one it may not
    jobs = computer(models_dir, tmp_path / "b", operator_key, LLAMA3, {**gen, "eos_token_id": eos})
    greedy = jobs.compute(chat(max_new_tokens=20, temperature=0.0), no_check)
    expected = decoder.complete_batch(
        [prompt], max_new_tokens=20, check=no_check, add_bos=False, eos_ids=eos
    )[0]
    assert greedy["finish_reason"] == "stop" == expected.finish_reason
    assert greedy["message"]["content"] == expected.text and expected.tokens <= 4
    sampled = jobs.compute(chat(max_new_tokens=20, temperature=None, top_p=None, seed=4), no_check)
    explicit = jobs.compute(chat(max_new_tokens=20, temperature=0.9, top_p=0.8, seed=4), no_check)
    assert sampled == explicit


def test_refusals_say_whose_they_are(
    models_dir: Path, tmp_path: Path, operator_key: bytes, decoder: LoadedDecoder
) -> None:
    jobs = computer(models_dir, tmp_path, operator_key, MISTRAL, None)
    turns = (ChatMessage("user", "a"), ChatMessage("user", "b"))
    with pytest.raises(JobInputError, match="roles must alternate"):
        jobs.compute(Request("chat", bytes(32), max_new_tokens=4, messages=turns), no_check)
    with pytest.raises(JobInputError, match="exceeds model chat-test's limit of 511"):
        jobs.compute(chat(max_new_tokens=600), no_check)
    plain = JobComputer(
        decoder,
        "tiny-llama-test",
        load_chat_settings(decoder, models_dir / "tiny-llama-test", operator_key),
        None,
        None,
    )
    with pytest.raises(RequestError, match="has no chat template") as info:
        plain.compute(chat(), no_check)
    assert isinstance(info.value, ModelError)
    generated = plain.compute(Request("generate", bytes(32), ("Hi",), 5), no_check)
    assert generated == {"texts": [decoder.generate("Hi", max_new_tokens=5, check=no_check)]}
