"""``parkmesh infer``, ``parkmesh selftest sandbox`` and ``parkmesh sandbox provision``.

``infer`` runs one job through the real path: the command plays the client (it seals the input
to the worker key and opens the sealed output), and a pool of confined workers plays the car.
No torch is imported here: registering the commands stays cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import trio

from supervisor.cli.output import print_json
from supervisor.cli.sandbox_config import (
    add_config_argument,
    dev_config,
    fail,
    load_sandbox_config,
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``infer``, ``selftest`` (with ``sandbox``) and ``sandbox`` (with ``provision``)."""
    infer = sub.add_parser("infer", help="run one private job in a sandboxed worker")
    infer.add_argument("--model", required=True, help="model name, e.g. all-MiniLM-L6-v2")
    what = infer.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", action="append", help="a sentence to embed (repeatable)")
    what.add_argument("--prompt", action="append", help="a prompt to continue (repeatable)")
    infer.add_argument("--max-new-tokens", type=int, default=32)
    infer.add_argument("--temperature", type=float, default=0.0)
    infer.add_argument("--top-p", type=float, default=1.0)
    infer.add_argument("--seed", type=int, default=None)
    infer.add_argument("--json", action="store_true", help="print JSON")
    add_config_argument(infer)
    infer.set_defaults(func=_infer)

    selftest = sub.add_parser("selftest", help="check that safety mechanisms hold; prints JSON")
    tests = selftest.add_subparsers(dest="selftest", metavar="TEST", required=True)
    sandbox = tests.add_parser("sandbox", help="a confined worker tries to escape")
    sandbox.add_argument("--model", default=None, help="model whose worker is tested")
    sandbox.add_argument("--json", action="store_true", help="print JSON (the default)")
    add_config_argument(sandbox)
    sandbox.set_defaults(func=_selftest)

    node = sub.add_parser("sandbox", help="set up the node for workers")
    actions = node.add_subparsers(dest="action", metavar="ACTION", required=True)
    prov = actions.add_parser("provision", help="create the worker user, its key and dev models")
    prov.add_argument("--json", action="store_true", help="print JSON")
    prov.add_argument("--no-models", action="store_true", help="do not write development models")
    add_config_argument(prov)
    prov.set_defaults(func=_provision)


def _infer(args: argparse.Namespace) -> int:
    from sandbox.jobs import open_output, seal_encode_job, seal_generate_job
    from sandbox.session import open_pool

    if args.max_new_tokens < 1:
        return fail("--max-new-tokens must be at least 1")
    config = load_sandbox_config(args.config, models=(args.model,))

    async def main() -> tuple[dict[str, Any], Any, Any]:
        started = time.perf_counter()
        async with open_pool(config) as pool:
            ready_ms = (time.perf_counter() - started) * 1000
            job_id = uuid.uuid4().hex
            if args.text:
                job, key = seal_encode_job(job_id, args.model, pool.worker_public_key, args.text)
            else:
                job, key = seal_generate_job(
                    job_id,
                    args.model,
                    pool.worker_public_key,
                    args.prompt,
                    max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature,
                    top_p=args.top_p,
                    seed=args.seed,
                )
            result = await pool.run_job(job)
            stats = pool.statistics()[0]
        info = {
            "job_id": job_id,
            "model": args.model,
            "status": result.status,
            "reason": result.reason,
            "device": stats.device,
            "confined": stats.confined,
            "worker_start_ms": round(ready_ms, 1),
            "compute_ms": round(result.compute_ms, 2),
            "total_ms": round(result.total_ms, 2),
            "sealed_input_bytes": len(job.sealed),
            "sealed_output_bytes": len(result.sealed or b""),
        }
        return info, result, key

    try:
        info, result, key = trio.run(main)
    except Exception as exc:  # trio wraps errors in groups; report the first cause
        return fail(_first_message(exc))
    if not result.ok:
        if args.json:
            print_json(info)
        else:
            print(f"job {result.status}: {result.reason}", file=sys.stderr)
        return 1
    output = open_output(result, key)
    if "embeddings" in output:
        info["dimension"] = len(output["embeddings"][0])
        info["embeddings"] = output["embeddings"]
    else:
        info["texts"] = output["texts"]
    if args.json:
        print_json(info)
    else:
        for item in output.get("texts") or [
            json.dumps(v[:8]) + " ..." for v in output["embeddings"]
        ]:
            print(item)
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from sandbox.selftest import run_selftest

    config = load_sandbox_config(args.config)
    model = args.model or config.models[0]
    try:
        report = trio.run(run_selftest, config, model)
    except Exception as exc:  # trio wraps errors in groups; report the first cause
        return fail(_first_message(exc))
    print_json(report)
    return 0 if report["all_denied"] and report["controls_work"] else 1


def _provision(args: argparse.Namespace) -> int:
    from sandbox.node import NodeSetupError

    if args.config is not None:
        from supervisor.config.load import load_config

        config = load_config(args.config).sandbox
    else:
        config = dev_config()
    try:
        from sandbox.node import provision

        facts = provision(config, models=not args.no_models)
    except (NodeSetupError, OSError) as exc:
        return fail(str(exc))
    info = {
        "worker_user": config.worker_user,
        "uid": facts.uid,
        "worker_key": str(config.worker_key),
        "worker_public_key": facts.worker_public_key.hex(),
        "models_dir": str(config.models_dir),
        "device": facts.device,
    }
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def _first_message(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__
