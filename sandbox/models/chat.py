"""Chat prompts: a checkpoint's own chat template, rendered in a sandboxed Jinja environment, and
its generation defaults.

A chat model ships its prompt format as a Jinja template (``chat_template`` in
``tokenizer_config.json``) and its stopping ids and sampling defaults in
``generation_config.json``; both files are pinned by the signed manifest, and both are optional
(a model without a template refuses chat jobs). The template is code from the checkpoint, so it
runs only inside `jinja2.sandbox.ImmutableSandboxedEnvironment`, set up exactly as
``transformers`` sets up ``apply_chat_template`` (the same globals and filters, loop controls,
``trim_blocks`` and ``lstrip_blocks``): the rendered prompt is the one the model was trained on,
and a template that reaches for ``__class__`` or mutates a list is stopped by the sandbox.

No torch here: the worker renders the prompt, then hands the text to the decoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jinja2
import jinja2.ext
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sandbox.models.errors import ModelError, RequestError
from sandbox.models.manifest import load_manifest, read_verified_file

TOKENIZER_CONFIG: Final = "tokenizer_config.json"
GENERATION_CONFIG: Final = "generation_config.json"
ROLES: Final = ("system", "user", "assistant")
# The named special tokens transformers passes to every template (SPECIAL_TOKENS_ATTRIBUTES).
SPECIAL_TOKEN_KEYS: Final = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class ChatRefused(RequestError):
    """The template itself refused the conversation (``raise_exception``, e.g. roles that do not
    alternate). The client's fault; the message holds only the template's own literal text."""


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # As transformers: Jinja's own tojson escapes HTML characters, which no prompt wants.
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


class _TemplateDict:
    """``dict`` as templates see it: callable, ``fromkeys``, no attribute to climb out through."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """``namespace()`` that refuses underscore names (no reaching CPython internals)."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: object) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"chat templates cannot store underscore names on a namespace: {name!r}"
            )


def sandboxed_environment() -> ImmutableSandboxedEnvironment:
    """The Jinja environment transformers renders chat templates in, less its assistant-mask
    extension (``{% generation %}`` blocks are accepted and rendered as their body)."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationBlock, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


class _GenerationBlock(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: transformers marks assistant text with it;
    rendering a prompt only needs the body."""

    tags = {"generation"}  # noqa: RUF012  (Jinja's class attribute)

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return str(caller())


class ChatTemplate:
    """A compiled chat template with the special tokens it is rendered with.

    Raises (at construction) `ModelError` when the template does not compile.
    """

    def __init__(self, source: str, special_tokens: Mapping[str, str], label: str) -> None:
        self.source = source
        self.special_tokens = dict(special_tokens)
        self._label = label
        try:
            self._template = sandboxed_environment().from_string(source)
        except jinja2.exceptions.TemplateSyntaxError as exc:
            raise ModelError(f"{label}: chat template does not compile: {exc}") from None

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The prompt for `messages`, ending with the assistant's turn header.

        As ``apply_chat_template(messages, tokenize=False, add_generation_prompt=True)``.

        Raises:
            ChatRefused: the template called ``raise_exception`` (the client's conversation).
            ModelError: the template tried something the sandbox forbids, or failed otherwise
                (the node's template, never run further).
        """
        chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            return self._template.render(
                messages=chat,
                tools=None,
                documents=None,
                add_generation_prompt=True,
                **self.special_tokens,
            )
        except jinja2.exceptions.SecurityError:
            raise ModelError(
                f"{self._label}: chat template attempted an operation the sandbox forbids"
            ) from None
        except jinja2.exceptions.TemplateError as exc:
            # Only a literal of the template itself may be repeated: a message built from the
            # conversation would carry job data into the failure reason.
            said = str(exc)
            detail = f": {said}" if said and said in self.source else ""
            raise ChatRefused(
                f"{self._label}: the chat template refused the messages{detail}"
            ) from None
        except Exception as exc:  # a template bug (TypeError, ...): the model's, not the client's
            raise ModelError(f"{self._label}: chat template failed: {type(exc).__name__}") from None


@dataclass(frozen=True, slots=True)
class GenerationDefaults:
    """What ``generation_config.json`` says about stopping and sampling.

    Attributes:
        eos_ids: every id that ends a reply (empty: the decoder config's eos id).
        bos_id: the id to start a plain prompt with (None: the decoder config's).
        temperature, top_p: defaults for requests that give none; greedy unless the config
            sets ``do_sample``, as transformers' ``generate``.
    """

    eos_ids: tuple[int, ...] = ()
    bos_id: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A model's chat template (None: no chat jobs) and generation defaults."""

    template: ChatTemplate | None
    defaults: GenerationDefaults

    def render(self, messages: Sequence[Mapping[str, str]], label: str) -> str:
        """Render with the template; `RequestError` naming `label` when the model has none."""
        if self.template is None:
            raise RequestError(
                f"{label} has no chat template ({TOKENIZER_CONFIG} with chat_template); it "
                "cannot serve chat jobs"
            )
        return self.template.render(messages)


NO_CHAT: Final = ChatSettings(None, GenerationDefaults())


def _token_text(value: object) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken map."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def chat_template_from_config(data: bytes, label: str) -> ChatTemplate | None:
    """The template of a ``tokenizer_config.json`` (None when it has none).

    A list of named templates (``[{"name": "default", "template": ...}, ...]``) yields the one
    named ``default``. Raises `ModelError` for a file that is not a JSON object or a template of
    the wrong type.
    """
    raw = _json_object(data, f"{label}: {TOKENIZER_CONFIG}")
    source = raw.get("chat_template")
    if isinstance(source, list):
        named = {t.get("name"): t.get("template") for t in source if isinstance(t, Mapping)}
        source = named.get("default")
    if source is None:
        return None
    if not isinstance(source, str):
        raise ModelError(f"{label}: {TOKENIZER_CONFIG}: chat_template must be a string")
    tokens = {k: t for k in SPECIAL_TOKEN_KEYS if (t := _token_text(raw.get(k))) is not None}
    return ChatTemplate(source, tokens, label)


def generation_defaults(data: bytes, label: str) -> GenerationDefaults:
    """Parse ``generation_config.json``; `ModelError` for ids or numbers of the wrong type."""
    where = f"{label}: {GENERATION_CONFIG}"
    raw = _json_object(data, where)
    eos = raw.get("eos_token_id")
    eos_list = [eos] if eos is None or isinstance(eos, int) else eos
    if not isinstance(eos_list, list) or not all(_is_id(e) for e in eos_list if e is not None):
        raise ModelError(f"{where}: eos_token_id must be an id or a list of ids")
    bos = raw.get("bos_token_id")
    if bos is not None and not _is_id(bos):
        raise ModelError(f"{where}: bos_token_id must be an id")
    temperature, top_p = 0.0, 1.0
    if raw.get("do_sample") is True:
        temperature = _float(raw.get("temperature", 1.0), "temperature", where)
        top_p = _float(raw.get("top_p", 1.0), "top_p", where)
        if not (temperature >= 0.0 and 0.0 < top_p <= 1.0):
            raise ModelError(f"{where}: temperature must be >= 0 and top_p in (0, 1]")
    return GenerationDefaults(tuple(e for e in eos_list if e is not None), bos, temperature, top_p)


def chat_settings(
    tokenizer_config: bytes | None, generation_config: bytes | None, label: str
) -> ChatSettings:
    """Both files' settings; either may be absent."""
    template = (
        None if tokenizer_config is None else chat_template_from_config(tokenizer_config, label)
    )
    defaults = (
        GenerationDefaults()
        if generation_config is None
        else generation_defaults(generation_config, label)
    )
    return ChatSettings(template, defaults)


def read_chat_settings(model_dir: Path, operator_public_key: bytes) -> ChatSettings:
    """The chat settings of the model in `model_dir`, from the files its signed manifest pins
    under the names ``tokenizer_config.json`` and ``generation_config.json`` (whatever their
    role); a file the manifest does not pin is not read.

    Raises:
        ManifestError: bad signature, or a pinned file missing or not matching its digest.
        ModelError: a file that does not parse, or a template that does not compile.
    """
    manifest = load_manifest(model_dir, operator_public_key)
    pinned = {entry.path: entry for entry in manifest.files}

    def read(name: str) -> bytes | None:
        entry = pinned.get(name)
        return None if entry is None else read_verified_file(model_dir, manifest, entry)

    return chat_settings(
        read(TOKENIZER_CONFIG), read(GENERATION_CONFIG), f"model {manifest.name!r}"
    )


def _json_object(data: bytes, where: str) -> Mapping[str, Any]:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{where} is not JSON") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{where} is not a JSON object")
    return raw


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _float(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"{where}: {name} must be a number")
    return float(value)
