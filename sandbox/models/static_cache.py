"""A static key/value cache: buffers allocated once per loaded decoder and reused by every
generation, as in gpt-fast, instead of a fresh cache per call.

The buffers grow in buckets (batch and slots rounded up to powers of two, slots capped at the
model's ``max_seq_len``), so a worker that serves jobs of similar sizes allocates once and never
again; each generation gets a `KVCache` view of the first ``batch`` rows and ``slots`` slots.
Nothing of a previous job is ever read: every slot a step attends to was written earlier in the
same generation (the prefill writes all prompt slots, each decode step its own slot first), and
``valid`` is rewritten for every slot before it is used.

One generation at a time per `StaticKVCache` (the worker serves one job at a time); an aborted
generation leaves the buffers for the next one as they are.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sandbox.models.decoder import DecoderConfig, KVCache

MIN_SLOTS = 256


def bucket(n: int, least: int, most: int | None = None) -> int:
    """`n` rounded up to a power of two, at least `least` and (when given) at most `most`."""
    size = max(least, 1 << max(0, n - 1).bit_length())
    return size if most is None else max(n, min(size, most))


class CacheView(KVCache):
    """A `KVCache` over the first rows and slots of the static buffers (no allocation)."""

    def __init__(self, keys: list[Tensor], values: list[Tensor], valid: Tensor) -> None:
        # Deliberately not KVCache.__init__: that allocates, this only views.
        self.keys = keys
        self.values = values
        self.valid = valid


class StaticKVCache:
    """Per-model key/value buffers [B, K, S, D] for every layer, grown by bucket, reused."""

    def __init__(self, cfg: DecoderConfig, device: torch.device, dtype: torch.dtype) -> None:
        self._cfg = cfg
        self._device = device
        self._dtype = dtype
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []
        self._valid = torch.zeros(0, 0, dtype=torch.bool, device=device)

    @property
    def capacity(self) -> tuple[int, int]:
        """(rows, slots) allocated now."""
        return (self._valid.shape[0], self._valid.shape[1])

    def view(self, batch: int, slots: int) -> KVCache:
        """A cache of `batch` rows and `slots` slots, growing the buffers first if needed."""
        rows, have = self.capacity
        if batch > rows or slots > have:
            self._allocate(
                max(rows, bucket(batch, 1)),
                max(have, bucket(slots, MIN_SLOTS, self._cfg.max_seq_len)),
            )
        return CacheView(
            [k[:batch, :, :slots] for k in self._keys],
            [v[:batch, :, :slots] for v in self._values],
            self._valid[:batch, :slots],
        )

    def _allocate(self, rows: int, slots: int) -> None:
        cfg = self._cfg
        shape = (rows, cfg.num_kv_heads, slots, cfg.head_dim)
        # Drop the old buffers first so that growing never holds both at once.
        self._keys, self._values = [], []
        self._keys = [self._empty(shape) for _ in range(cfg.num_layers)]
        self._values = [self._empty(shape) for _ in range(cfg.num_layers)]
        self._valid = torch.zeros(rows, slots, dtype=torch.bool, device=self._device)

    def _empty(self, shape: tuple[int, ...]) -> Tensor:
        return torch.zeros(shape, device=self._device, dtype=self._dtype)
