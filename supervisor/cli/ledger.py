"""``parkmesh ledger verify|statement|year``: the owner's earnings record, read from the file.

These commands read the ledger's sqlite file directly (read-only, WAL lets them run beside the
daemon), so statements and verification work when the daemon is stopped. The file is
``[daemon] state_dir``/ledger.sqlite unless ``--ledger`` names another.

Exit status: 0 done; 1 ``verify`` found a row that does not hold; 2 bad input (month, year,
missing file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``ledger verify``, ``ledger statement`` and ``ledger year``."""
    ledger = sub.add_parser("ledger", help="the earnings ledger: verify, monthly statement, year")
    actions = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    verify = actions.add_parser("verify", help="check the hash chain (catches edited rows)")
    _common(verify)
    verify.set_defaults(func=_verify)

    statement = actions.add_parser("statement", help="one month's jobs, energy and credits")
    statement.add_argument("--month", required=True, help="the month, YYYY-MM (UTC)")
    statement.add_argument("--format", choices=("text", "json", "csv"), default="text")
    statement.add_argument(
        "--tariff",
        type=float,
        default=None,
        help="energy price per kWh (default: the tariff recorded per job)",
    )
    _common(statement)
    statement.set_defaults(func=_statement)

    year = actions.add_parser("year", help="per-month income summary of a year (for taxes)")
    year.add_argument("year", help="the year, YYYY")
    year.add_argument(
        "--tariff",
        type=float,
        default=None,
        help="energy price per kWh (default: the tariff recorded per job)",
    )
    _common(year)
    year.set_defaults(func=_year)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=Path,
        default=None,
        help="ledger file (default: [daemon] state_dir/ledger.sqlite)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file to read [daemon] state_dir from",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _open(args: argparse.Namespace) -> Any:
    from supervisor.config.load import DEFAULT_PATH, load_config
    from supervisor.ledger import LEDGER_FILE, Ledger

    path = args.ledger
    if path is None:
        config_file = args.config or (DEFAULT_PATH if DEFAULT_PATH.exists() else None)
        path = load_config(config_file).daemon.state_dir / LEDGER_FILE
    return Ledger(path, readonly=True)


def _verify(args: argparse.Namespace) -> int:
    from supervisor.ledger import LedgerError

    try:
        with _open(args) as ledger:
            result = ledger.verify()
    except LedgerError as exc:
        return _bad(exc)
    data = {
        "ok": result.ok,
        "entries": result.entries,
        "bad_seq": result.bad_seq,
        "problem": result.problem,
        "file": str(ledger.path),
    }
    if args.json:
        print_json(data)
    elif result.ok:
        print(f"{ledger.path}: OK, {result.entries} entries, hash chain intact")
    else:
        print(f"{ledger.path}: TAMPERED: row {result.bad_seq} {result.problem}")
    return 0 if result.ok else 1


def _statement(args: argparse.Namespace) -> int:
    from supervisor.ledger import LedgerError
    from supervisor.ledger.statement import statement, statement_csv

    try:
        _check_tariff(args.tariff)
        with _open(args) as ledger:
            data = statement(ledger, args.month, args.tariff)
    except LedgerError as exc:
        return _bad(exc)
    if args.json or args.format == "json":
        print_json(data)
    elif args.format == "csv":
        sys.stdout.write(statement_csv(data))
    else:
        print(f"Statement for {data['month']}")
        print_table(data["totals"])
        print("not completed:")
        print_table(
            {
                k: f"{v['jobs']} jobs, {v['compute_hours']} h, {v['kwh']} kWh"
                for k, v in data["not_completed"].items()
            }
        )
    return 0


def _year(args: argparse.Namespace) -> int:
    from supervisor.ledger import LedgerError
    from supervisor.ledger.statement import year_summary

    try:
        _check_tariff(args.tariff)
        if not (len(args.year) == 4 and args.year.isdigit()):
            raise LedgerError(f"year: expected YYYY, not {args.year!r}")
        with _open(args) as ledger:
            data = year_summary(ledger, int(args.year), args.tariff)
    except LedgerError as exc:
        return _bad(exc)
    if args.json:
        print_json(data)
        return 0
    print(
        f"{'month':8} {'jobs':>5} {'hours':>8} {'kWh':>8} {'energy':>9} {'accrued':>9} "
        f"{'paid':>9} {'pending':>9}"
    )
    for row in [*data["months"], {"month": "total", **data["total"]}]:
        print(
            f"{row['month']:8} {row['jobs']:>5} {row['compute_hours']:>8.2f} "
            f"{row['kwh']:>8.3f} {row['energy_cost']:>9.2f} {row['credits_accrued']:>9.2f} "
            f"{row['credits_paid']:>9.2f} {row['credits_pending']:>9.2f}"
        )
    print(f"net income (credits accrued - energy cost): {data['total']['net_income']:.2f}")
    return 0


def _check_tariff(tariff: float | None) -> None:
    from supervisor.ledger import LedgerError

    if tariff is not None and not 0 <= tariff < 100:
        raise LedgerError(f"tariff: must be a price per kWh between 0 and 100, not {tariff}")


def _bad(exc: Exception) -> int:
    print(f"parkmesh ledger: {exc}", file=sys.stderr)
    return 2
