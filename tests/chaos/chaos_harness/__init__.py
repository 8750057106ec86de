"""Real processes for the chaos tests, one small class per kind, and the audit of their files.

One module per part (this package re-exports what the tests use):

* `broker`: `Broker`, mosquitto (`uplink.broker.Mosquitto`: mutual TLS, sessions persisted on
  disk), with a clean `stop`/`start` for outages and a SIGKILL for power cuts; `MeshFiles`, the
  keys and certificates of the car, the dispatcher and the client.
* `dispatcher`: `DispatcherProcess`, ``parkmesh dispatcher`` (the reference dispatcher) with its
  sqlite store.
* `car`: `CarDaemon`, ``parkmesh run --config FILE`` for a car parked and plugged in (a scenario
  that never changes), a real confined worker (all-MiniLM-L6-v2 on the CPU), the uplink to the
  broker and the DBus API on a private bus; it finds its worker among its children (psutil).
* `client`: `ChaosClient`, in the test's own trio loop, a client that quotes, seals and submits
  jobs and records every answer it gets; on the same MQTT connection it watches, as a fault
  tester's probe, the car's status and the messages to and from the car (to time kills).
* `audit`: `audit` reads the real files (the car's journal and ledger, the dispatcher's store)
  and the client's record, and says in an `Audit` what was lost, doubled or unaccounted.
* `world`: `World`, all of them on loopback in one folder, and `power_cut`.
* `process` (`Process`, the base of the processes), `sqlite_files` (read-only looks into
  their databases), `constants` (the model, the ids of the car and the client).

Every process writes its output to a log file of its own (appended across restarts, with a
``=== harness: ...`` line at each start and kill), so that a failure can be traced by job id.
Processes are started with `subprocess.Popen` and are always killed and reaped by `close`.
"""

from .audit import Audit, audit, compute_seconds, evidence, ledger_verify, night_started
from .broker import Broker, MeshFiles
from .car import CarDaemon
from .client import ChaosClient, ClientJob, Seen
from .constants import CAR, CLIENT, MODEL
from .dispatcher import DispatcherProcess
from .process import Process
from .sqlite_files import integrity
from .world import World, power_cut

__all__ = [
    "CAR",
    "CLIENT",
    "MODEL",
    "Audit",
    "Broker",
    "CarDaemon",
    "ChaosClient",
    "ClientJob",
    "DispatcherProcess",
    "MeshFiles",
    "Process",
    "Seen",
    "World",
    "audit",
    "compute_seconds",
    "evidence",
    "integrity",
    "ledger_verify",
    "night_started",
    "power_cut",
]
