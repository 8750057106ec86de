"""Text jobs on a `DecodeEngine`: a job's prompts as engine rows, their ids back as completions.

`TextJob` does for one job what `LoadedDecoder.complete_batch` does for one call (the same
validation, bos rule, seed, stop strings and finish reasons), but row by row: each prompt is a
`RowRequest` that joins the engine when a row is free, and the job is complete once every one
of its rows has left. Several jobs then share the engine's batched decode.

Cancellation and errors: as `sandbox.models.engine` (the pacer's check propagates; bad
parameters are a `RequestError` from `TextJob`'s constructor or the engine's ``join``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from sandbox.models.engine import Row, RowRequest
from sandbox.models.errors import RequestError
from sandbox.models.generate import check_sampling
from sandbox.models.pacing import Check
from sandbox.models.runtime import Completion, LoadedDecoder
from sandbox.models.text import BatchText


@dataclass(frozen=True, slots=True)
class TextRequest:
    """What `LoadedDecoder.complete_batch` takes, as one value (see there for each field)."""

    prompts: tuple[str, ...]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    step_rows: int | None = None
    stop: Sequence[str] = ()
    eos_ids: Collection[int] | None = None
    add_bos: bool | None = None
    bos_id: int | None = None


OnPiece = Callable[[int, str], None]
"""Called with (prompt index, text piece) as each piece of a completion becomes final; a
prompt's pieces join to its completion's text (stop strings are never streamed)."""


def complete(
    decoder: LoadedDecoder, request: TextRequest, check: Check, on_piece: OnPiece | None
) -> list[Completion]:
    """`request` on the decoder alone (`LoadedDecoder.complete_batch`), its text streamed to
    `on_piece`: what the one-job worker runs for a streamed job.

    Raises:
        RequestError: as `LoadedDecoder.complete_batch`.
        Whatever `check` raises, unchanged.
    """
    r = request
    return decoder.complete_batch(
        list(r.prompts),
        max_new_tokens=r.max_new_tokens,
        check=check,
        on_token=on_piece,
        temperature=r.temperature,
        top_p=r.top_p,
        seed=r.seed,
        step_rows=r.step_rows,
        stop=r.stop,
        eos_ids=r.eos_ids,
        add_bos=r.add_bos,
        bos_id=r.bos_id,
    )


class TextJob:
    """One job's prompts, tokenized, as rows to join an engine; its completions as they end;
    each piece of text, as it becomes final, to `on_piece` (a streamed job).

    Raises (constructor):
        RequestError: as `LoadedDecoder.complete_batch` (no prompts, bad sampling, seed or
            stop strings).
    """

    def __init__(
        self, decoder: LoadedDecoder, request: TextRequest, on_piece: OnPiece | None = None
    ) -> None:
        r = request
        if not r.prompts or not all(isinstance(p, str) for p in r.prompts):
            raise RequestError("generate needs a non-empty list of prompt strings")
        check_sampling(r.temperature, r.top_p)
        if r.step_rows is not None and r.step_rows < 1:
            raise RequestError("step_rows must be at least 1")
        if r.seed is not None and not 0 <= r.seed < 2**64:
            raise RequestError(f"seed must lie in [0, 2**64), got {r.seed}")
        if any(not isinstance(s, str) or not s for s in r.stop):
            raise RequestError("stop strings must be non-empty strings")
        cfg = decoder.model.config
        bos = getattr(cfg, "add_bos", True) if r.add_bos is None else r.add_bos
        first = [cfg.bos_id if r.bos_id is None else r.bos_id] if bos else []
        tok = decoder.tokenizer
        self._ids = [[*first, *tok.encode(p, add_special_tokens=False).ids] for p in r.prompts]
        self._texts = BatchText(tok, len(r.prompts), r.stop, on_piece)
        # One generator per job, as complete_batch has one per call.
        self._generator = torch.Generator(device=decoder.model.lm_head.weight.device)
        self._generator.manual_seed(secrets.randbits(63) if r.seed is None else r.seed)
        self._eos = frozenset((cfg.eos_id,) if r.eos_ids is None else r.eos_ids)
        self._request = r
        self._next = 0
        self._done: dict[int, Completion] = {}

    @property
    def waiting(self) -> int:
        """Prompts that have not joined the engine yet."""
        return len(self._ids) - self._next

    @property
    def complete(self) -> bool:
        """Whether every prompt has left the engine with its completion."""
        return len(self._done) == len(self._ids)

    def next_row(self) -> tuple[int, RowRequest]:
        """The next prompt to join (its index in the job and its row request)."""
        index = self._next
        self._next += 1
        r = self._request
        return index, RowRequest(
            self._ids[index],
            r.max_new_tokens,
            self._eos,
            r.temperature,
            r.top_p,
            self._generator,
            on_token=lambda token: self._texts.push(index, token),
            step_rows=r.step_rows or 0,
        )

    def finish(self, index: int, row: Row) -> None:
        """Prompt `index` left the engine (done) with `row`."""
        text, cut = self._texts.finish(index)
        reason: Literal["stop", "length"] = "stop" if row.stopped or cut else "length"
        self._done[index] = Completion(text, reason, len(row.ids))

    def completions(self) -> list[Completion]:
        """Every prompt's completion, in prompt order (once `complete`)."""
        return [self._done[i] for i in range(len(self._ids))]
