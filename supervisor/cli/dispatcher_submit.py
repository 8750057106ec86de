"""``parkmesh submit``: one job through the reference dispatcher, its result opened.

The input is ``--text`` (an encode or generate job) or ``--chat`` (a chat job of one user
message, rendered on the car with the model's own chat template). With ``--stream`` (generate or
chat; the interactive tier) the text is printed as it arrives, each chunk checked in order
(`uplink.dispatcher.submit`), then a newline and the final line; with ``--json`` each chunk is
a JSON line (``{"job", "seq", "car", "text"}``) and the outcome a last one. A stop of the car or
a cancel after some chunks ends the stream with the job's failure and its reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from supervisor.cli.output import print_json

SUBMIT_EPILOG = """\
examples:
  parkmesh submit --dev /tmp/mesh --model hash --text hello
  parkmesh submit --dev /tmp/mesh --model all-MiniLM-L6-v2 --text "parked cars" --redundancy 2
  parkmesh submit --dev /tmp/mesh --model tiny-llama-test --chat "Why park?" --stream
  parkmesh submit --host broker.example --ca ca.pem --cert c.pem --key c.key \\
      --signing-key client.ed25519 --dispatcher-key 3b6a...e1 --model hash --text hi --json
"""


def register(
    sub: argparse._SubParsersAction[Any],
    broker_args: Callable[[argparse.ArgumentParser], None],
    need: Callable[..., list[str]],
) -> None:
    """Add ``parkmesh submit`` (`broker_args` adds the broker options, `need` names the
    missing ones)."""
    s = sub.add_parser(
        "submit",
        help="submit one job through the dispatcher and open the result",
        description="Submit one job to the reference dispatcher: ask for a quote, seal the input "
        "to each quoted car's worker key, and print the first result, opened.",
        epilog=SUBMIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    broker_args(s)
    s.add_argument("--client-id", default="client", help="this client's id (default client)")
    s.add_argument(
        "--signing-key",
        type=Path,
        help="client Ed25519 key (raw 32 bytes); without --dev, required",
    )
    s.add_argument(
        "--dispatcher-key",
        help="pinned dispatcher public key (64 hex digits); without --dev, required",
    )
    s.add_argument(
        "--model",
        required=True,
        help="model name (--dev stand-in cars: hash, embed-tiny, all-MiniLM-L6-v2)",
    )
    given = s.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", help="the input text (an encode or generate job)")
    given.add_argument("--chat", metavar="MESSAGE", help="a chat job of this one user message")
    s.add_argument(
        "--op",
        choices=("encode", "generate"),
        default="encode",
        help="request kind for --text (sandbox.jobs): embeddings or text generation",
    )
    s.add_argument(
        "--max-new-tokens", type=int, default=32, help="for generate and chat (default 32)"
    )
    s.add_argument(
        "--stream",
        action="store_true",
        help="print the text as the car makes it (generate or chat; the interactive tier)",
    )
    s.add_argument(
        "--redundancy", type=int, default=1, help="cars running it at once, k (1..8, default 1)"
    )
    s.add_argument(
        "--tier",
        choices=("interactive", "batch"),
        help="interactive: only cars that answer fast; batch: any (default batch, and "
        "interactive with --stream)",
    )
    s.add_argument(
        "--deadline-s",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the job is worthless after this long (default 60)",
    )
    s.add_argument("--json", action="store_true", help="print the outcome as JSON")
    s.set_defaults(func=lambda args: _submit(args, need))


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.redundancy < 1 or args.redundancy > 8 or args.deadline_s <= 0:
        return "--redundancy must be 1..8 and --deadline-s positive"
    if args.stream and args.chat is None and args.op != "generate":
        return "--stream needs --chat or --op generate"
    if args.stream and args.tier == "batch":
        return "--stream needs the interactive tier"
    return None


def _submit(args: argparse.Namespace, need: Callable[..., list[str]]) -> int:
    if (error := _usage_error(args)) is not None:
        print(f"parkmesh submit: {error}", file=sys.stderr)
        return 2
    from uplink.dispatcher.submit import Chunk, JobFailed, SubmitClient

    if args.dev is not None:
        from uplink.mesh import Mesh

        client = Mesh.open(args.dev / "mesh").client(args.client_id)
    else:
        missing = need(args, "ca", "cert", "key", "signing_key", "dispatcher_key")
        if missing:
            print(
                f"parkmesh submit: without --dev, {', '.join(missing)} are required",
                file=sys.stderr,
            )
            return 2
        from uplink.client import TlsFiles
        from uplink.keys import load_signing_key, parse_public_key

        client = SubmitClient(
            client_id=args.client_id,
            signing_key=load_signing_key(args.signing_key),
            dispatcher_key=parse_public_key(args.dispatcher_key, "--dispatcher-key"),
            host=args.host,
            port=args.port,
            tls=TlsFiles(args.ca, args.cert, args.key),
            prefix=args.prefix,
        )
    tier = args.tier or ("interactive" if args.stream else "batch")
    chunks = 0

    def on_chunk(chunk: Chunk) -> None:
        nonlocal chunks
        chunks += 1
        text = "".join(t for _, t in chunk.pieces)
        if args.json:
            line = {"job": chunk.job, "seq": chunk.seq, "car": chunk.car, "text": text}
            print(json.dumps(line), flush=True)
        else:
            print(text, end="", flush=True)

    async def main() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(10):
                await nursery.start(client.run)
            if not client.mqtt.connected:
                nursery.cancel_scope.cancel()
                return {
                    "error": f"could not reach the broker within 10 s "
                    f"({client.mqtt.last_error or 'no answer'})"
                }
            try:
                out = await client.submit(
                    args.model,
                    [] if args.text is None else [args.text],
                    tier=tier,
                    k=args.redundancy,
                    deadline_s=args.deadline_s,
                    op="chat" if args.chat is not None else args.op,
                    max_new_tokens=args.max_new_tokens,
                    messages=[] if args.chat is None else [("user", args.chat)],
                    stream=args.stream,
                    on_chunk=on_chunk,
                )
            except JobFailed as exc:
                return {"error": str(exc)}
            finally:
                nursery.cancel_scope.cancel()
        return {
            "job": out.job,
            "output": dict(out.output),
            "car": out.car,
            "cars_quoted": out.cars_quoted,
            "timings": dict(out.timings),
            "energy_j": out.energy_j,
            "e2e_ms": round(out.e2e_ms, 3),
            "quote_ms": round(out.quote_ms, 3),
            **({"chunks": out.chunks} if args.stream else {}),
        }

    result = trio.run(main)
    if args.stream and chunks and not args.json:
        print(flush=True)  # the streamed text ends its line
    if "error" in result:
        print(f"parkmesh submit: {result['error']}", file=sys.stderr)
        return 1
    if args.json:
        if args.stream:
            print(json.dumps(result, default=str))
        else:
            print_json(result)
    elif args.stream:
        finish = result["output"].get("finish_reason", "")
        why = f", {finish}" if finish else ""
        print(f"(car {result['car']}, {result['chunks']} chunks, {result['e2e_ms']} ms{why})")
    else:
        output = result["output"]
        message = output.get("message")
        shown = (
            [message.get("content")]
            if isinstance(message, dict)
            else output.get("texts")
            or [f"embedding of {len(v)} values" for v in output.get("embeddings", [])]
        )
        print(f"{shown}\n(car {result['car']}, {result['e2e_ms']} ms)")
    return 0
