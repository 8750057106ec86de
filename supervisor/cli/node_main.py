"""``python -m supervisor.cli.node_main CONFIG``: a car's uplink alone, over a `LocalPort`.

For tests that need a real process (SIGKILL mid-job, then restart) and for the demo until the
daemon runs the uplink itself. Reads the ``[uplink]`` section of a parkmesh TOML file; the
worker key is kept in ``--worker-key`` (created on first start) so a restarted car keeps the
key clients sealed their inputs to. Prints ``ready`` on stdout once serving; SIGTERM or SIGINT
stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from supervisor.config.errors import ConfigError
from supervisor.config.load import load_config
from uplink.keys import load_or_create_sealing_key
from uplink.local_port import LocalPort
from uplink.node import NodeUplink


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m supervisor.cli.node_main")
    parser.add_argument("config", type=Path)
    parser.add_argument("--worker-key", type=Path, required=True)
    parser.add_argument("--slots", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        config = load_config(args.config).uplink
    except ConfigError as exc:
        print(f"node_main: {exc}", file=sys.stderr)
        return 2
    port = LocalPort(worker_key=load_or_create_sealing_key(args.worker_key), slots=args.slots)

    async def run() -> None:
        node = NodeUplink.open(config, port)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(node.run)
                print("ready", flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
