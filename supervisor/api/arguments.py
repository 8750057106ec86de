"""Checking a call's arguments before they reach the facade, and the errors the API answers with.

Every refusal is an `ApiError`; `invalid` makes the InvalidArgs one, whose message starts with
the argument's name. Messages are bounded (`bounds.MAX_ERROR_CHARS`, control characters
escaped) and values are echoed through `bounds.shown`, so that no argument, however large or
strange, makes a large error or log line. The checks here are the size and shape checks that
hold for every facade; the facade checks what the values mean.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import names
from .bounds import MAX_ERROR_CHARS, cut_text, shown
from .spec import Method, split_signature

# A preference's text form is short ("mon-fri 07:30 80, sat,sun 09:00 70"); more is a mistake.
MAX_PREFERENCE_CHARS = 512
# A curtailment request is a handful of keys.
MAX_REQUEST_CHARS = 16 * 2**10
_MONTH = re.compile(r"\d{4}-\d{2}")


class ApiError(Exception):
    """Answer the call with the DBus error `name` and `message` (bounded and sanitized)."""

    def __init__(self, name: str, message: str) -> None:
        message = cut_text(message, MAX_ERROR_CHARS)
        super().__init__(message)
        self.name = name
        self.message = message


def invalid(argument: str, message: str) -> ApiError:
    """An InvalidArgs error whose text starts with the argument's name."""
    return ApiError(names.ERROR_INVALID_ARGS, f"{argument}: {message}")


def check_signature(method: Method, signature: str) -> None:
    """Raise InvalidArgs naming the first argument that is missing or of the wrong type."""
    if signature == method.in_signature:
        return
    got = split_signature(signature)
    for i, arg in enumerate(method.inputs):
        if i >= len(got):
            raise invalid(arg.name, f"is missing (expected type '{arg.type}')")
        if got[i] != arg.type:
            raise invalid(arg.name, f"expected type '{arg.type}', got '{got[i]}'")
    expected = ", ".join(f"{a.name}: {a.type}" for a in method.inputs) or "none"
    raise invalid("arguments", f"too many (expected {expected}; got signature '{signature}')")


def check_preference(name: str, value: str, known: Any) -> None:
    """Refuse an unknown preference `name` or a `value` too long to be one.

    Raises:
        ApiError: InvalidArgs naming ``name`` or ``value``.
    """
    if name not in known:
        raise invalid("name", f"no preference {shown(name)} (known: {', '.join(sorted(known))})")
    if len(value) > MAX_PREFERENCE_CHARS:
        raise invalid(
            "value",
            f"{name}: too long ({len(value)} characters, at most {MAX_PREFERENCE_CHARS}): "
            f"{shown(value)}",
        )


def check_request_json(text: str) -> None:
    """Refuse a curtailment request that is too long, not JSON, or nested too deeply.

    Raises:
        ApiError: InvalidArgs naming ``request_json``.
    """
    if len(text) > MAX_REQUEST_CHARS:
        raise invalid(
            "request_json",
            f"too long ({len(text)} characters, at most {MAX_REQUEST_CHARS}): {shown(text)}",
        )
    try:
        json.loads(text)
    except RecursionError:
        raise invalid("request_json", f"not JSON: nested too deeply: {shown(text)}") from None
    except ValueError as exc:
        raise invalid("request_json", f"not JSON: {exc}") from None


def check_month(month: str) -> None:
    """Refuse a month that is not ``YYYY-MM`` before the ledger sees it.

    Raises:
        ApiError: InvalidArgs naming ``month``.
    """
    if not _MONTH.fullmatch(month):
        raise invalid("month", f"expected YYYY-MM, not {shown(month)}")


def value_error(argument: str, prefix: str, exc: BaseException, value: str) -> ApiError:
    """InvalidArgs for `exc`, raised by the facade on `value`: led by ``argument:`` and
    `prefix` once, with `value` itself shown short wherever the message quotes it."""
    text = str(exc)
    quoted = repr(value)
    if len(quoted) > 2 * len(shown(value)):
        text = text.replace(quoted, shown(value)).replace(value, shown(value))
    if prefix and not text.startswith(f"{prefix}: "):
        text = f"{prefix}: {text}"
    if text.startswith(f"{argument}: "):
        text = text[len(argument) + 2 :]
    return invalid(argument, text)
