"""What a worker computes for an opened request: embeddings, generations, chat replies.

Separate from `sandbox.worker` (which confines, loads and serves) so the per-op rules live in
one place: which model kind serves which op, the model's own bounds on a request, the chat
template, and the generation config's defaults (eos ids, bos id, temperature, top_p).

Cancellation: every call passes the job's ``check`` down to the model, which calls it before
every layer; whatever it raises propagates unchanged.

Errors: the client's mistakes are `sandbox.jobs.JobInputError` (a decoder asked to encode, more
new tokens than the model allows, a conversation the template refuses); a model that cannot do
what is asked (no chat template) is its `sandbox.models.errors.ModelError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.jobs import MAX_NEW_TOKENS, JobInputError, Request
from sandbox.models.chat import NO_CHAT, ChatRefused, ChatSettings, read_chat_settings
from sandbox.models.manifest import MANIFEST_NAME

if TYPE_CHECKING:
    from sandbox.models.engine_text import TextRequest
    from sandbox.models.runtime import Completion

Check = Callable[[], None]
Shape = Callable[[list["Completion"]], dict[str, Any]]
"""Turns a job's completions, in prompt order, into its output map."""


def load_chat_settings(model: Any, model_dir: Path, operator_public_key: bytes) -> ChatSettings:
    """The chat template and generation defaults of a decoder with a signed manifest (none for
    an encoder or a test model without one).

    Raises:
        ManifestError, ModelError: a pinned file that does not verify or parse, a template
            that does not compile (the worker fails its start with the reason).
    """
    if model.kind != "decoder" or not (model_dir / MANIFEST_NAME).is_file():
        return NO_CHAT
    return read_chat_settings(model_dir, operator_public_key)


def rehearse_chat(chat: ChatSettings) -> None:
    """Render a one-message chat, so that the template's code runs once under the worker's
    final confinement before any client's job (a template that refuses it is left alone)."""
    if chat.template is not None:
        with contextlib.suppress(ChatRefused):
            chat.template.render([{"role": "user", "content": "rehearsal"}])


class JobComputer:
    """Runs opened requests on one loaded model with its chat settings."""

    def __init__(
        self,
        model: Any,
        model_name: str,
        chat: ChatSettings,
        micro_batch: int | None,
        step_rows: int | None,
    ) -> None:
        self.model = model
        self.model_name = model_name
        self.chat = chat
        self.micro_batch = micro_batch
        self.step_rows = step_rows

    def compute(self, request: Request, check: Check) -> dict[str, Any]:
        """The output map of `request` (without the version).

        Raises:
            JobInputError: the op does not suit the model, or the request exceeds its limits.
            ModelError: the model's own refusal (e.g. no chat template).
        """
        if request.op == "encode":
            if self.model.kind != "encoder":
                raise JobInputError(f"model {self.model_name} is not an encoder")
            vectors = self.model.encode(
                list(request.texts),
                check=check,
                micro_batch=self.micro_batch,
                step_rows=self.step_rows,
            )
            return {"embeddings": vectors}
        if self.model.kind != "decoder":
            raise JobInputError(f"model {self.model_name} is not a decoder")
        if request.op == "chat":
            return self._chat(request, check)
        kwargs = {
            "max_new_tokens": request.max_new_tokens,
            "check": check,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            **self._stopping(),
        }
        if self.chat.defaults.bos_id is not None:
            kwargs["bos_id"] = self.chat.defaults.bos_id
        if len(request.texts) == 1:
            return {"texts": [self.model.generate(request.texts[0], **kwargs)]}
        return {"texts": list(self.model.generate_batch(list(request.texts), **kwargs))}

    def text_request(self, request: Request) -> tuple[TextRequest, Shape]:
        """A generate or chat request as one `TextRequest` for the decode engine, and how its
        completions become the output map: the same rules and defaults as `compute`.

        Raises:
            JobInputError, ModelError: as `compute` (an encode request is not a decoder's).
        """
        from sandbox.models import engine_text  # torch: only in a decoder's worker

        if request.op == "encode" or self.model.kind != "decoder":
            raise JobInputError(f"model {self.model_name} is not an encoder")
        eos = self.chat.defaults.eos_ids or None
        if request.op == "generate":
            text = engine_text.TextRequest(
                tuple(request.texts),
                request.max_new_tokens,
                temperature=float(request.temperature or 0.0),
                top_p=1.0 if request.top_p is None else request.top_p,
                seed=request.seed,
                eos_ids=eos,
                bos_id=self.chat.defaults.bos_id,
            )
            return text, lambda done: {"texts": [c.text for c in done]}
        temperature, top_p = self._chat_sampling(request)
        text = engine_text.TextRequest(
            (self._chat_prompt(request),),
            request.max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=request.seed,
            step_rows=self.step_rows,
            stop=request.stop,
            eos_ids=eos,
            add_bos=False,
        )
        return text, lambda done: _chat_reply(done[0])

    def _chat_sampling(self, request: Request) -> tuple[float, float]:
        """A chat job's temperature and top_p: its own, else the checkpoint's defaults."""
        defaults = self.chat.defaults
        temperature = defaults.temperature if request.temperature is None else request.temperature
        return temperature, defaults.top_p if request.top_p is None else request.top_p

    def _stopping(self) -> dict[str, Any]:
        eos = self.chat.defaults.eos_ids
        return {"eos_ids": eos} if eos else {}

    def _chat_prompt(self, request: Request) -> str:
        limit = min(MAX_NEW_TOKENS, int(self.model.max_new_tokens_limit))
        if request.max_new_tokens > limit:
            raise JobInputError(
                f"max_new_tokens {request.max_new_tokens} exceeds model {self.model_name}'s "
                f"limit of {limit}"
            )
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            return self.chat.render(messages, f"model {self.model_name!r}")
        except ChatRefused as exc:
            raise JobInputError(str(exc)) from None

    def _chat(self, request: Request, check: Check) -> dict[str, Any]:
        temperature, top_p = self._chat_sampling(request)
        done = self.model.complete_batch(
            [self._chat_prompt(request)],
            max_new_tokens=request.max_new_tokens,
            check=check,
            temperature=temperature,
            top_p=top_p,
            seed=request.seed,
            step_rows=self.step_rows,
            stop=request.stop,
            add_bos=False,  # the template writes the bos token itself where the model wants it
            **self._stopping(),
        )[0]
        return _chat_reply(done)


def _chat_reply(done: Completion) -> dict[str, Any]:
    """A chat job's output map: the assistant's message and why it ended."""
    return {
        "message": {"role": "assistant", "content": done.text},
        "finish_reason": done.finish_reason,
    }
