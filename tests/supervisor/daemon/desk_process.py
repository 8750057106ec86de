"""A job desk in a process of its own, for the tests that kill it: ``python -m
tests.supervisor.daemon.desk_process STATE_DIR NODE_BASE JOB_ID``.

It parks the car, runs one ``SLOW`` job on a real fake-model worker, and prints ``marked``
once the job's in-flight marker has been refreshed (so a kill now leaves a marker with
energy in it); then it waits for the job and prints ``done``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from supervisor.ledger import Ledger
from tests.sandbox.conftest import node_config, running_pool
from tests.supervisor.daemon.test_job_desk import _job, _park, _supervisor


async def main(state_dir: Path, base: Path, job_id: str) -> None:

    sup = _supervisor(state_dir)
    async with running_pool(node_config(base)) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        _park(sup)
        nursery.start_soon(desk.run_job, _job(desk, job_id, "SLOW " * 20))
        with trio.fail_after(60):
            while True:
                await trio.sleep(0.05)
                with Ledger(sup.ledger_path, readonly=True) as ledger:
                    marks = ledger.inflight()
                if marks and marks[0].energy_j > 0:
                    break
        print("marked", flush=True)
        while desk.running:
            await trio.sleep(0.05)
        print("done", flush=True)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
