"""Chat templates: rendered as transformers renders them, in a sandbox that refuses escapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.models.chat import (
    NO_CHAT,
    ChatRefused,
    chat_settings,
    chat_template_from_config,
    generation_defaults,
)
from sandbox.models.errors import ModelError, RequestError
from sandbox.models.text import build_byte_tokenizer

from .chat_templates import (
    ALTERNATING,
    HOSTILE,
    HOSTILE_SILENT,
    ONE_USER,
    SYSTEM_MULTI_TURN,
    TEMPLATES,
)

SPECIALS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}


def tokenizer_config(template: Any, **extra: Any) -> bytes:
    return json.dumps({**SPECIALS, "chat_template": template, **extra}).encode()


def hf_render(tmp_path: Path, template: str, messages: list[dict[str, str]]) -> str:
    from transformers import PreTrainedTokenizerFast

    build_byte_tokenizer().save(str(tmp_path / "tokenizer.json"))
    config = {**SPECIALS, "chat_template": template, "tokenizer_class": "PreTrainedTokenizerFast"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    out = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert isinstance(out, str)
    return out


@pytest.mark.slow  # imports transformers (2-5 s on two busy cores)
@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("messages", [SYSTEM_MULTI_TURN, ALTERNATING, ONE_USER])
def test_renders_exactly_as_transformers(
    tmp_path: Path, name: str, messages: list[dict[str, str]]
) -> None:
    source = TEMPLATES[name]
    template = chat_template_from_config(tokenizer_config(source), "model 't'")
    assert template is not None
    if name == "mistral" and messages[0]["role"] == "system":  # refused by both
        with pytest.raises(Exception, match="roles must alternate"):
            hf_render(tmp_path, source, messages)
        with pytest.raises(ChatRefused, match="roles must alternate"):
            template.render(messages)
        return
    expected = hf_render(tmp_path, source, messages)
    assert template.render(messages) == expected
    assert expected.endswith(("assistant\n", "assistant<|end_header_id|>\n\n", "[/INST]"))


def test_known_prompts() -> None:
    chatml = chat_template_from_config(tokenizer_config(TEMPLATES["chatml"]), "m")
    assert chatml is not None
    assert chatml.render(ONE_USER) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    llama = chat_template_from_config(tokenizer_config(TEMPLATES["llama3"]), "m")
    assert llama is not None
    assert llama.render(ONE_USER) == (
        "<bos><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    smol = chat_template_from_config(tokenizer_config(TEMPLATES["smollm"]), "m")
    assert smol is not None
    assert '<!-- {"chars": 2, "tag": "<&>"} -->' in smol.render(ONE_USER)


def test_raise_exception_is_the_clients_refusal_without_its_data() -> None:
    mistral = chat_template_from_config(tokenizer_config(TEMPLATES["mistral"]), "model 'm'")
    assert mistral is not None
    with pytest.raises(ChatRefused, match="roles must alternate") as info:
        mistral.render([{"role": "user", "content": "a"}, {"role": "user", "content": "SECRET"}])
    assert isinstance(info.value, RequestError)
    leaky = chat_template_from_config(
        tokenizer_config("{{ raise_exception('bad: ' + messages[0]['content']) }}"), "m"
    )
    assert leaky is not None
    with pytest.raises(ChatRefused) as info:
        leaky.render([{"role": "user", "content": "SECRET"}])
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_are_refused_by_the_sandbox(name: str) -> None:
    template = chat_template_from_config(tokenizer_config(HOSTILE[name]), "model 'evil'")
    assert template is not None
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(ModelError, match=r"sandbox forbids|chat template failed") as info:
        template.render(messages)
    assert not isinstance(info.value, RequestError)
    assert messages == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("name", sorted(HOSTILE_SILENT))
def test_dunder_attributes_render_as_nothing(name: str) -> None:
    template = chat_template_from_config(tokenizer_config(HOSTILE_SILENT[name]), "m")
    assert template is not None
    assert template.render(ONE_USER) == ""


def test_named_templates_bad_files_and_no_template() -> None:
    named = [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "PLAIN"}]
    template = chat_template_from_config(tokenizer_config(named), "m")
    assert template is not None and template.render(ONE_USER) == "PLAIN"
    assert chat_template_from_config(json.dumps(SPECIALS).encode(), "m") is None
    with pytest.raises(ModelError, match="does not compile"):
        chat_template_from_config(tokenizer_config("{% for %}"), "m")
    with pytest.raises(ModelError, match="not JSON"):
        chat_template_from_config(b"\xff", "m")
    with pytest.raises(RequestError, match="has no chat template"):
        NO_CHAT.render(ONE_USER, "model 'plain'")
    tokens = {
        "bos_token": {"content": "<s>", "__type": "AddedToken"},
        "chat_template": "{{ bos_token }}",
    }
    added = chat_template_from_config(json.dumps(tokens).encode(), "m")
    assert added is not None and added.render(ONE_USER) == "<s>"


def test_generation_defaults() -> None:
    sampled = generation_defaults(
        b'{"do_sample": true, "temperature": 0.6, "top_p": 0.9, "eos_token_id": [1, 7], '
        b'"bos_token_id": 0}',
        "m",
    )
    assert (sampled.eos_ids, sampled.bos_id, sampled.temperature, sampled.top_p) == (
        (1, 7),
        0,
        0.6,
        0.9,
    )
    greedy = generation_defaults(b'{"temperature": 0.6, "eos_token_id": 2}', "m")
    assert (greedy.eos_ids, greedy.temperature, greedy.top_p) == ((2,), 0.0, 1.0)
    with pytest.raises(ModelError, match="eos_token_id"):
        generation_defaults(b'{"eos_token_id": "x"}', "m")
    both = chat_settings(tokenizer_config("T"), b'{"eos_token_id": 5}', "m")
    assert both.template is not None and both.defaults.eos_ids == (5,)
