"""Printing results: JSON for machines (``--json``), aligned text for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, Final

# The one exit status of every command that needs the daemon and cannot reach it (status, why,
# prefs, budget, curtail, ledger ...): scripts can tell "not running" from "refused".
EX_UNREACHABLE: Final = 3


def print_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def print_table(rows: Mapping[str, Any]) -> None:
    """Print ``key  value`` lines with the keys aligned."""
    width = max((len(k) for k in rows), default=0)
    for key, value in rows.items():
        print(f"{key.ljust(width)}  {value}")
