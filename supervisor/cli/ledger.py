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

from supervisor.cli.output import print_json


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
    _currency_argument(statement)
    statement.set_defaults(func=_statement)

    year = actions.add_parser("year", help="per-month income summary of a year (for taxes)")
    year.add_argument("year", help="the year, YYYY")
    year.add_argument(
        "--tariff",
        type=float,
        default=None,
        help="energy price per kWh (default: the tariff recorded per job)",
    )
    year.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text: the printable summary for an accountant; csv: one row per month",
    )
    _common(year)
    _currency_argument(year)
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


def _currency_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--currency",
        default=None,
        help="ISO 4217 code of the amounts (default: [ledger] currency of the configuration)",
    )


def _open_in(args: argparse.Namespace, *, amounts: bool = True) -> tuple[Any, str]:
    """The ledger (``--ledger``, else the configured state folder's), read-only, and, with
    `amounts`, the currency of its amounts (``--currency``, else the configuration's; "" without
    `amounts`). The configuration is read once, and only when one of them comes from it."""
    from supervisor.config.load import config_file, load_config
    from supervisor.ledger import LEDGER_FILE, Ledger, LedgerError
    from uplink.messages import is_currency

    currency = args.currency if amounts else ""
    if amounts and currency is not None and not is_currency(currency):
        raise LedgerError(f"currency: expected an ISO 4217 code such as EUR, not {currency!r}")
    path = args.ledger
    if path is None or currency is None:
        config = load_config(config_file(args.config))
        path = path or config.daemon.state_dir / LEDGER_FILE
        currency = config.ledger.currency if currency is None else currency
    return Ledger(path, readonly=True), str(currency)


def _verify(args: argparse.Namespace) -> int:
    from supervisor.ledger import LedgerError

    try:
        ledger, _ = _open_in(args, amounts=False)
        with ledger:
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
    from supervisor.ledger.printed import statement_text
    from supervisor.ledger.statement import statement, statement_csv

    try:
        _check_tariff(args.tariff)
        ledger, currency = _open_in(args)
        with ledger:
            data = statement(ledger, args.month, args.tariff)
    except LedgerError as exc:
        return _bad(exc)
    if args.json or args.format == "json":
        print_json({**data, "currency": currency})
    elif args.format == "csv":
        sys.stdout.write(statement_csv(data, currency))
    else:
        sys.stdout.write(statement_text(data, currency))
    return 0


def _year(args: argparse.Namespace) -> int:
    from supervisor.ledger import LedgerError
    from supervisor.ledger.printed import year_csv, year_text
    from supervisor.ledger.statement import year_summary

    try:
        _check_tariff(args.tariff)
        if not (len(args.year) == 4 and args.year.isdigit()):
            raise LedgerError(f"year: expected YYYY, not {args.year!r}")
        ledger, currency = _open_in(args)
        with ledger:
            data = year_summary(ledger, int(args.year), args.tariff)
            checked = ledger.verify()
    except LedgerError as exc:
        return _bad(exc)
    if args.json or args.format == "json":
        print_json({**data, "currency": currency, "chain_ok": checked.ok})
    elif args.format == "csv":
        sys.stdout.write(year_csv(data, currency))
    else:
        chain = (
            f"{ledger.path}, hash chain intact ({checked.entries} entries)"
            if checked.ok
            else f"{ledger.path}: TAMPERED at row {checked.bad_seq}: {checked.problem}"
        )
        sys.stdout.write(year_text(data, currency, chain))
    return 0


def _check_tariff(tariff: float | None) -> None:
    from supervisor.ledger import LedgerError

    if tariff is not None and not 0 <= tariff < 100:
        raise LedgerError(f"tariff: must be a price per kWh between 0 and 100, not {tariff}")


def _bad(exc: Exception) -> int:
    print(f"parkmesh ledger: {exc}", file=sys.stderr)
    return 2
