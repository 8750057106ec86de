"""Chat requests: messages, sampling, stop strings and their bounds, named without the input."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from sandbox import hpke
from sandbox.jobs import (
    MAX_CHAT_CHARS,
    MAX_MESSAGES,
    MAX_STOP,
    MAX_TEXT_CHARS,
    ChatMessage,
    JobInputError,
    input_info,
    open_request,
    seal_chat_job,
)

WORKER = hpke.generate_keypair()
REPLY = bytes(range(32))


def test_chat_round_trip() -> None:
    job, _ = seal_chat_job(
        "c1",
        "dec",
        WORKER.public,
        [("system", "Be brief."), ("user", "canary-5521")],
        max_new_tokens=32,
        temperature=0.5,
        seed=9,
        stop=["\n\n", "END"],
    )
    assert b"canary-5521" not in job.sealed
    request = open_request(job.sealed, "dec", WORKER.private)
    assert request.op == "chat"
    assert request.messages == (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "canary-5521"),
    )
    assert (request.max_new_tokens, request.temperature, request.top_p, request.seed) == (
        32,
        0.5,
        None,
        9,
    )
    assert request.stop == ("\n\n", "END")


def _chat(**fields: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "op": "chat",
        "messages": [{"role": "user", "content": "SECRET"}],
        "max_new_tokens": 4,
        "reply_to": REPLY,
        **fields,
    }


def test_defaults_leave_sampling_to_the_model() -> None:
    body = _chat()
    request = open_request(
        hpke.seal(WORKER.public, cbor2.dumps(body), input_info("m")), "m", WORKER.private
    )
    assert (request.temperature, request.top_p, request.seed, request.stop) == (
        None,
        None,
        None,
        (),
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": []}, "non-empty list"),
        ({"messages": "SECRET"}, "non-empty list"),
        ({"messages": [{"role": "user"}]}, r"messages\[0\] must be a map of exactly"),
        ({"messages": [{"role": "user", "content": "SECRET", "name": "x"}]}, "exactly role"),
        ({"messages": [{"role": "tool", "content": "SECRET"}]}, r"messages\[0\]\.role"),
        ({"messages": [{"role": "user", "content": 5}]}, r"messages\[0\]\.content"),
        ({"messages": [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)}, "at most 256"),
        ({"messages": [{"role": "user", "content": "S" * (MAX_TEXT_CHARS + 1)}]}, "exceeds"),
        (
            {
                "messages": [{"role": "user", "content": "S" * MAX_TEXT_CHARS}]
                * (MAX_CHAT_CHARS // MAX_TEXT_CHARS + 1)
            },
            r"messages\[2\] exceeds",
        ),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 10**6}, "max_new_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"seed": 1.5}, "seed"),
        ({"stop": "SECRET"}, "stop must be a list"),
        ({"stop": ["SECRET"] * (MAX_STOP + 1)}, "stop must be a list"),
        ({"stop": [""]}, r"stop\[0\]"),
        ({"stop": ["SECRET", 3]}, r"stop\[1\]"),
    ],
)
def test_bad_chat_requests_are_named(fields: dict[str, Any], message: str) -> None:
    sealed = hpke.seal(WORKER.public, cbor2.dumps(_chat(**fields)), input_info("m"))
    with pytest.raises(JobInputError, match=message) as info:
        open_request(sealed, "m", WORKER.private)
    assert "SECRET" not in str(info.value)
