"""Chat templates in the styles real checkpoints ship, for the chat tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

# Llama-3.1 style: whitespace control, namespace, strftime_now, loop controls.
LLAMA31 = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{%- set ns = namespace(count=0) %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Year: " + strftime_now("%Y") + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- set ns.count = ns.count + 1 %}
    {%- if loop.index0 > 6 %}{% break %}{% endif %}
    {%- if message['role'] == 'assistant' and loop.last %}{% continue %}{% endif %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{{- "<!-- " ~ ns.count ~ " -->" }}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# SmolLM2 style, with block tags on their own lines: trim_blocks and lstrip_blocks decide the
# whitespace, and tojson must not escape HTML characters.
SMOLLM = """{% for message in messages %}
  {% if loop.first and messages[0]['role'] != 'system' %}
<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
  {% endif %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
  {% if message['role'] == 'user' %}
    {% set meta = {'chars': message['content'] | length, 'tag': '<&>'} %}
<!-- {{ meta | tojson }} -->
  {% endif %}
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
"""

TEMPLATES = {
    "llama3": LLAMA3,
    "llama31": LLAMA31,
    "mistral": MISTRAL,
    "chatml": CHATML,
    "smollm": SMOLLM,
}

SYSTEM_MULTI_TURN = [
    {"role": "system", "content": "  You answer briefly.  "},
    {"role": "user", "content": "What is a parked car good for?"},
    {"role": "assistant", "content": "Lending its GPU.\n"},
    {"role": "user", "content": "And when the door opens?  ü <b>"},
]
ALTERNATING = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "How hot is the battery?"},
]
ONE_USER = [{"role": "user", "content": "Hi"}]

HOSTILE = {
    "class": "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "mutate": "{% set x = messages.append({'role': 'user', 'content': 'x'}) %}{{ x }}",
    "namespace": "{% set ns = namespace(_secret=1) %}{{ ns }}",
}
# The sandbox answers these with an empty undefined value instead of the object.
HOSTILE_SILENT = {
    "format": "{{ '{0.__class__}'.format(messages) }}",
    "dunder": "{{ messages.__class__ }}{{ raise_exception.__globals__ }}",
}


def write_chat_model(
    models_dir: Path,
    name: str,
    tokenizer_config: dict[str, object],
    generation_config: dict[str, object] | None,
    into: Path | None = None,
) -> Path:
    """A copy of the test decoder provisioned in `models_dir`, named `name`, in `into` (default
    `models_dir`), with its tokenizer_config.json (and generation_config.json) pinned and
    signed by the development operator key."""
    from sandbox.models.manifest import Manifest, describe_file, load_manifest, write_manifest
    from sandbox.models.provision import (
        DECODER_NAME,
        dev_operator_key,
        read_operator_public_key,
    )

    source = models_dir / DECODER_NAME
    target = (into or models_dir) / name
    target.mkdir(parents=True, exist_ok=True)
    base = load_manifest(source, read_operator_public_key(models_dir))
    for entry in base.files:
        shutil.copyfile(source / entry.path, target / entry.path)
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    extra = [describe_file(target, "tokenizer_config.json", "tokenizer_config")]
    if generation_config is not None:
        (target / "generation_config.json").write_text(json.dumps(generation_config))
        extra.append(describe_file(target, "generation_config.json", "generation_config"))
    manifest = Manifest(name, base.family, base.config, (*base.files, *extra))
    write_manifest(target, manifest, dev_operator_key(models_dir))
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target
