"""Private job envelopes: what the client seals, what the worker opens, what it refuses."""

from __future__ import annotations

import cbor2
import pytest

from sandbox import hpke, jobs
from sandbox.jobs import (
    MAX_TEXTS,
    JobInputError,
    JobResult,
    input_info,
    open_output,
    open_request,
    seal_encode_job,
    seal_generate_job,
    seal_output,
)

WORKER = hpke.generate_keypair()


def test_encode_round_trip_only_the_reply_key_opens_the_output() -> None:
    job, reply_key = seal_encode_job("j1", "enc", WORKER.public, ["canary-7781 text"])
    assert b"canary-7781" not in job.sealed
    request = open_request(job.sealed, "enc", WORKER.private)
    assert request.op == "encode" and request.texts == ("canary-7781 text",)
    sealed = seal_output(request, "enc", {"embeddings": [[0.5, 0.25]]})
    result = JobResult("j1", "enc", "ok", sealed)
    assert open_output(result, reply_key) == {"v": 1, "embeddings": [[0.5, 0.25]]}
    with pytest.raises(hpke.HpkeError):
        open_output(result, WORKER.private)


def test_generate_request_fields() -> None:
    job, _ = seal_generate_job(
        "j2", "dec", WORKER.public, ["a", "b"], max_new_tokens=5, temperature=0.7, top_p=0.9, seed=3
    )
    request = open_request(job.sealed, "dec", WORKER.private)
    assert (request.op, request.texts, request.max_new_tokens) == ("generate", ("a", "b"), 5)
    assert (request.temperature, request.top_p, request.seed) == (0.7, 0.9, 3)


def test_a_request_for_another_model_does_not_open() -> None:
    job, _ = seal_encode_job("j3", "enc", WORKER.public, ["x"])
    with pytest.raises(JobInputError, match="does not open"):
        open_request(job.sealed, "other-model", WORKER.private)


def _sealed(body: object) -> bytes:
    return hpke.seal(WORKER.public, cbor2.dumps(body), input_info("m"))


REPLY = bytes(range(32))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "not a CBOR map"),
        ({"v": 2}, "version must be 1"),
        ({"v": 1, "op": "encode", "texts": ["x"]}, "reply_to"),
        ({"v": 1, "op": "paint", "reply_to": REPLY}, "op must be"),
        ({"v": 1, "op": "encode", "texts": [], "reply_to": REPLY}, "non-empty list"),
        ({"v": 1, "op": "encode", "texts": ["SECRET", 3], "reply_to": REPLY}, r"texts\[1\]"),
        ({"v": 1, "op": "encode", "texts": ["x"] * (MAX_TEXTS + 1), "reply_to": REPLY}, "at most"),
        (
            {
                "v": 1,
                "op": "generate",
                "prompts": ["SECRET"],
                "max_new_tokens": 0,
                "reply_to": REPLY,
            },
            "max_new_tokens",
        ),
        (
            {
                "v": 1,
                "op": "generate",
                "prompts": ["SECRET"],
                "max_new_tokens": 3,
                "top_p": 0,
                "reply_to": REPLY,
            },
            "top_p",
        ),
    ],
)
def test_bad_requests_are_named_without_echoing_input(body: object, message: str) -> None:
    with pytest.raises(JobInputError, match=message) as info:
        open_request(_sealed(body), "m", WORKER.private)
    assert "SECRET" not in str(info.value)


def test_garbage_ciphertext_is_refused() -> None:
    with pytest.raises(JobInputError, match="too short"):
        open_request(b"nonsense", "m", WORKER.private)


def test_digest_identifies_a_resent_job() -> None:
    job, _ = seal_encode_job("j4", "enc", WORKER.public, ["x"])
    same = type(job)("other-id", job.model, job.sealed)
    assert job.digest == same.digest
    assert job.digest != seal_encode_job("j4", "enc", WORKER.public, ["x"])[0].digest


def test_a_failure_of_the_node_is_not_the_clients_bad_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job, _ = seal_encode_job("j5", "enc", WORKER.public, ["x"])
    # A worker key that is not a key is the node's problem, not a sealed message that
    # "does not open".
    with pytest.raises(ValueError, match="32 bytes") as info:
        open_request(job.sealed, "enc", b"short")
    assert not isinstance(info.value, JobInputError)

    # A library that fails to load while opening: propagates as itself.
    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise ImportError("cannot load the AEAD backend", name="backend")

    class BrokenSuite:
        decrypt = staticmethod(broken)

    monkeypatch.setattr(jobs, "SUITE", BrokenSuite)
    with pytest.raises(ImportError, match="AEAD backend"):
        open_request(job.sealed, "enc", WORKER.private)


def test_a_reply_key_that_cannot_be_sealed_to_is_the_clients() -> None:
    request = open_request(
        _sealed({"v": 1, "op": "encode", "texts": ["x"], "reply_to": bytes(32)}),
        "m",
        WORKER.private,
    )
    with pytest.raises(JobInputError, match="reply_to"):
        seal_output(request, "m", {"embeddings": [[0.0]]})
