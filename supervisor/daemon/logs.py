"""Logging set-up: journald-friendly under systemd, timestamped on a terminal; every record
bounded.

A record's text may carry a client's value (a DBus argument, an uplink sender id) of any size
or content. `BoundedFormatter` writes each record with its message cut to `MAX_MESSAGE_CHARS`
(control characters escaped, so one record is one line and cannot forge another) and its
traceback or stack to `MAX_TRACE_CHARS`, each cut marked with the original's length. Long
text arguments are cut before the message is formatted, so a 10 MB argument never becomes a
10 MB line. Both the stderr handler and the log ring (`log_ring.LogRing`) format with it.
"""

from __future__ import annotations

import copy
import logging
import os
import sys

from supervisor.api.bounds import clip_arguments, cut_marker, cut_text

# A record's message (after formatting its arguments) keeps at most this many characters.
MAX_MESSAGE_CHARS = 2000
# A traceback or stack keeps at most this many (its innermost frames come last and are cut
# first only when it is this long: 8000 characters is some 60 frames).
MAX_TRACE_CHARS = 8000
# Every formatted record is at most this long, whatever the format adds.
MAX_RECORD_CHARS = MAX_MESSAGE_CHARS + MAX_TRACE_CHARS + 512

# syslog priorities journald reads from a "<N>" prefix on each line.
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def bounded_record(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of `record` whose message is formatted, escaped and cut (`MAX_MESSAGE_CHARS`)
    and whose cached traceback text, if any, is cut (`MAX_TRACE_CHARS`); `record` itself is
    left as it is for the other handlers.

    Raises:
        TypeError, ValueError: the message does not match its arguments (as
        `logging.LogRecord.getMessage` does; the handler reports it with ``handleError``).
    """
    bounded = copy.copy(record)
    # The format string is the programmer's (cutting it could break a placeholder); the
    # arguments are where outside values come in.
    bounded.msg = record.msg if isinstance(record.msg, str) else str(record.msg)
    bounded.args = clip_arguments(record.args, MAX_MESSAGE_CHARS)
    text = bounded.getMessage()
    bounded.msg, bounded.args = cut_text(text, MAX_MESSAGE_CHARS), None
    if bounded.exc_text:
        bounded.exc_text = cut_text(bounded.exc_text, MAX_TRACE_CHARS, keep="\n")
    return bounded


class BoundedFormatter(logging.Formatter):
    """A formatter that writes every record bounded (`bounded_record`, `MAX_RECORD_CHARS`)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line(s): message bounded, traceback bounded, the whole bounded."""
        text = super().format(bounded_record(record))
        if len(text) > MAX_RECORD_CHARS:
            text = text[:MAX_RECORD_CHARS] + cut_marker(len(text))
        return text

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        """The traceback, cut to `MAX_TRACE_CHARS`."""
        return cut_text(super().formatException(ei), MAX_TRACE_CHARS, keep="\n")

    def formatStack(self, stack_info: str) -> str:
        """The stack, cut to `MAX_TRACE_CHARS`."""
        return cut_text(super().formatStack(stack_info), MAX_TRACE_CHARS, keep="\n")


class _JournalFormatter(BoundedFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.name}: {super().format(record)}"


def stderr_handler() -> logging.Handler:
    """The daemon's stderr handler: journald priorities when journald reads it, else
    timestamps; every record bounded (`BoundedFormatter`)."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(
            BoundedFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    return handler


def setup_logging(level: str = "info") -> None:
    """Send logs to stderr: with priorities and no timestamps when journald reads them."""
    root = logging.getLogger()
    root.handlers[:] = [stderr_handler()]
    root.setLevel(level.upper())
