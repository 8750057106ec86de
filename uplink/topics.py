"""Topic names, all under one configurable prefix (``parkmesh`` by default).

<p>/nodes/<node>/status   node -> all     retained status; the Will (offline) lands here too
<p>/nodes/<node>/in       dispatcher -> node   offers, cancels, control
<p>/nodes/<node>/out      node -> dispatcher   accept, result, failure, control_ack
<p>/nodes/<node>/echo     node -> node    RTT probes through the broker (QoS 0)
<p>/clients/<client>/up   client -> dispatcher   quote, submit
<p>/clients/<client>/down dispatcher -> client   quote_reply, job_result, job_failed
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of the protocol under `prefix`."""

    prefix: str = "parkmesh"

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "#+\0") or self.prefix.endswith("/"):
            raise ValueError(
                f"topic prefix {self.prefix!r} must be non-empty, without #, + or a trailing /"
            )

    def status(self, node: str) -> str:
        """A node's retained status."""
        return f"{self.prefix}/nodes/{node}/status"

    def node_in(self, node: str) -> str:
        """Dispatcher to node."""
        return f"{self.prefix}/nodes/{node}/in"

    def node_out(self, node: str) -> str:
        """Node to dispatcher."""
        return f"{self.prefix}/nodes/{node}/out"

    def echo(self, node: str) -> str:
        """A node's RTT probe topic."""
        return f"{self.prefix}/nodes/{node}/echo"

    def client_up(self, client: str) -> str:
        """Client to dispatcher."""
        return f"{self.prefix}/clients/{client}/up"

    def client_down(self, client: str) -> str:
        """Dispatcher to client."""
        return f"{self.prefix}/clients/{client}/down"

    def all_status(self) -> str:
        """Filter for every node's status."""
        return f"{self.prefix}/nodes/+/status"

    def all_node_out(self) -> str:
        """Filter for every node's answers."""
        return f"{self.prefix}/nodes/+/out"

    def all_client_up(self) -> str:
        """Filter for every client's requests."""
        return f"{self.prefix}/clients/+/up"

    def sender_of(self, topic: str) -> str:
        """The node or client id in `topic` (the third level); raises ValueError otherwise."""
        parts = topic.split("/")
        n = len(self.prefix.split("/"))
        if len(parts) != n + 3:
            raise ValueError(f"topic {topic!r} is not a parkmesh node or client topic")
        return parts[n + 1]


def check_id(name: str, what: str) -> str:
    """Return `name` if it is usable as one topic level; raises ValueError naming `what`."""
    if not name or len(name) > 64 or any(c in name for c in "/#+\0 ") or name == "dispatcher":
        raise ValueError(
            f"{what} {name!r} must be 1-64 characters without / # + space, and not 'dispatcher'"
        )
    return name
