"""The MQTT client's side of mutual TLS: the context it connects with, and its sockets.

paho opens the TCP connection and shakes hands itself (``tls_set_context``); what this module
decides is what the car trusts (the fleet's CA only, TLS 1.2 at least, its own certificate),
and that a socket whose handshake fails is closed at once rather than left to the collector.
"""

from __future__ import annotations

import ssl
from typing import Any

from .mqtt_types import TlsFiles


def client_context(tls: TlsFiles) -> ssl.SSLContext:
    """A context that trusts only `tls.ca`, presents `tls.cert`, and closes failed sockets.

    Raises:
        OSError, ssl.SSLError: a file is missing or not a certificate or key.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    context.load_cert_chain(str(tls.cert), str(tls.key))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _HandshakeClosingSocket
    return context


def tls_pending(sock: Any) -> int:
    """Bytes TLS has decrypted but paho has not read yet (0 for a plain socket)."""
    pending = getattr(sock, "pending", None)
    return int(pending()) if pending is not None else 0


class _HandshakeClosingSocket(ssl.SSLSocket):
    """A TLS socket that closes itself when its handshake fails.

    paho makes the socket, shakes hands and lets an exception go without closing it: a broker
    whose certificate is not trusted, a reset or a timed-out handshake would leave the socket
    (and its descriptor) to the garbage collector, at every retry.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # a non-blocking handshake that is not done yet
        except BaseException:
            self.close()
            raise
