"""The decode benchmark: both paths on the same weights agree, and the report has its figures."""

from __future__ import annotations

import pytest

from sandbox.models.bench_decode import BenchShape, run_decode_bench


@pytest.mark.slow  # imports transformers and generates through both paths
def test_decode_bench_reports_both_paths() -> None:
    shape = BenchShape(
        vocab_size=300, hidden_size=64, num_layers=2, intermediate_size=128, max_seq_len=64
    )
    report = run_decode_bench(batches=(1, 2), prompt_tokens=8, new_tokens=8, repeats=1, shape=shape)
    assert report["device"] == "cpu" and report["dtype"] == "float32"
    assert report["fast_decode_step"] is True
    assert [row["batch"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["same_greedy_tokens"]
        assert row["ours_tokens_per_s"] > 0 and row["transformers_tokens_per_s"] > 0
        assert row["ratio"] == pytest.approx(
            row["ours_tokens_per_s"] / row["transformers_tokens_per_s"], rel=0.01
        )
