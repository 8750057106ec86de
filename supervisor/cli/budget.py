"""``parkmesh budget``, ``parkmesh curtail`` and ``parkmesh simulate-night``.

``budget`` with any input flag is a what-if through the real core (flags not given take the
defaults of `thermal.night.NightScenario`, temperatures not given are not checked); without
one it asks the running daemon. ``curtail`` hands a curtailment to the running daemon.
``simulate-night`` runs a night minute by minute through the core. Out-of-range flags are
refused by argparse, naming the flag.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table

WHAT_IF = (
    "soc",
    "capacity_kwh",
    "plugged",
    "charge_kw",
    "compute_kw",
    "floor",
    "allow_on_battery",
    "departure",
    "target",
    "now",
    "gpu_temp",
    "coolant_temp",
    "battery_temp",
    "cabin_temp",
    "ambient_temp",
)


def _bounded(lo: float, hi: float, *, above: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not math.isfinite(value) or value < lo or value > hi or (above and value <= lo):
            low = f"more than {lo:g}" if above else f"at least {lo:g}"
            raise argparse.ArgumentTypeError(f"must be {low} and at most {hi:g}, not {text}")
        return value

    return parse


def _hhmm(text: str) -> time:
    from thermal.preferences import PreferenceError, parse_hhmm

    try:
        return parse_hhmm(text, "time")
    except PreferenceError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def _departure(text: str) -> time | None:
    return None if text.lower() == "none" else _hhmm(text)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``budget``, ``curtail`` and ``simulate-night``."""
    budget = sub.add_parser("budget", help="the compute power the car can spare (what-if or live)")
    budget.add_argument("--json", action="store_true", help="print JSON")
    _scenario_flags(budget, what_if=True)
    budget.set_defaults(func=_budget)

    curtail = sub.add_parser("curtail", help="ask the running daemon to shed compute load")
    what = curtail.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--level",
        type=int,
        choices=range(4),
        metavar="N",
        help="OpenADR SIMPLE level: 0 normal, 1 moderate, 2 high, 3 emergency",
    )
    what.add_argument(
        "--limit-kw",
        type=_bounded(0, 1000),
        metavar="KW",
        help="most the compute (plus host baseline) may draw, kW",
    )
    curtail.add_argument(
        "--duration",
        type=_bounded(0, 7 * 24 * 60, above=True),
        required=True,
        metavar="MIN",
        help="window length, minutes",
    )
    curtail.add_argument(
        "--start-in",
        type=_bounded(0, 7 * 86400),
        default=0.0,
        metavar="S",
        help="start this many seconds from now (default now)",
    )
    curtail.add_argument(
        "--randomize",
        type=_bounded(0, 86400),
        default=0.0,
        metavar="S",
        help="shift the start randomly within ±S seconds (OpenADR randomizeStart)",
    )
    curtail.add_argument("--id", default="", help="event id for logs")
    curtail.add_argument("--json", action="store_true", help="print JSON")
    curtail.set_defaults(func=_curtail)

    night = sub.add_parser("simulate-night", help="a parked car through a night, minute by minute")
    night.add_argument("--json", action="store_true", help="print JSON")
    night.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="plot SoC, compute power and temperatures to this PNG",
    )
    _scenario_flags(night, what_if=False)
    night.add_argument("--arrive", type=_hhmm, default=None, help="arrival HH:MM (default 19:00)")
    night.add_argument("--no-curtailment", action="store_true", help="leave out the curtailment")
    night.set_defaults(func=_simulate_night)


def _scenario_flags(p: argparse.ArgumentParser, *, what_if: bool) -> None:
    p.add_argument("--config", type=Path, help="take [budget] thresholds from this config file")
    p.add_argument("--soc", type=_bounded(0, 100), help="state of charge, %% (default 40)")
    p.add_argument("--capacity-kwh", type=_bounded(1, 500), help="usable capacity (default 75)")
    plug = p.add_mutually_exclusive_group()
    plug.add_argument(
        "--plugged",
        dest="plugged",
        action="store_true",
        default=None,
        help="on a charger that delivers (default)",
    )
    plug.add_argument("--unplugged", dest="plugged", action="store_false", help="on battery")
    p.add_argument("--charge-kw", type=_bounded(0, 350), help="charger power, kW (default 7.2)")
    p.add_argument(
        "--compute-kw",
        type=_bounded(0, 20, above=True),
        help="nominal compute draw, kW (default 1)",
    )
    p.add_argument("--floor", type=_bounded(20, 90), help="owner's charge floor, %% (default 50)")
    p.add_argument(
        "--allow-on-battery",
        action="store_true",
        default=None,
        help="the owner allows compute on battery",
    )
    p.add_argument(
        "--departure",
        type=_departure,
        default=False,
        metavar="HH:MM",
        help="daily departure (default 07:30; 'none' for no schedule)",
    )
    p.add_argument("--target", type=_bounded(20, 100), help="SoC at departure, %% (default 80)")
    if what_if:
        p.add_argument("--now", type=_hhmm, help="the time of day (default: now)")
        for name in ("gpu", "coolant", "battery", "cabin", "ambient"):
            p.add_argument(
                f"--{name}-temp",
                type=_bounded(-40, 150),
                metavar="C",
                help=f"{name} temperature, °C (not checked when not given)",
            )


def _budget(args: argparse.Namespace) -> int:
    given = [k for k in WHAT_IF if getattr(args, k) not in (None, False)]
    if not given:
        return _ask_daemon(args)
    from thermal.budget import Budget
    from thermal.inputs import BudgetClock, DeviceReadings, Temperatures, VehicleReadings
    from thermal.night import NightScenario

    d = NightScenario()
    cfg = _config(args, required_sensors=())
    now = datetime.combine(datetime.now().date(), args.now) if args.now else datetime.now()
    plugged = True if args.plugged is None else args.plugged
    charge_kw = d.charge_kw if args.charge_kw is None else args.charge_kw
    vehicle = VehicleReadings(
        soc_percent=d.soc_percent if args.soc is None else args.soc,
        capacity_kwh=args.capacity_kwh or d.capacity_kwh,
        cable_connected=plugged,
        charger_delivering=plugged,
        charge_power_kw=charge_kw if plugged else 0.0,
        temperatures=Temperatures(
            coolant=args.coolant_temp,
            battery=args.battery_temp,
            cabin=args.cabin_temp,
            ambient=args.ambient_temp,
        ),
    )
    decision = Budget(cfg).evaluate(
        vehicle, DeviceReadings(gpu_temp_c=args.gpu_temp), _prefs(args), BudgetClock(now)
    )
    out = decision.to_json()
    out["inputs"] = {
        "now": now.strftime("%a %H:%M"),
        "soc_percent": vehicle.soc_percent,
        "capacity_kwh": vehicle.capacity_kwh,
        "charging": vehicle.charging,
        "charge_kw": vehicle.charge_power_kw,
        "compute_w": cfg.nominal_compute_w,
    }
    _print_budget(out, args.json)
    return 0


def _print_budget(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(out)
        return
    runway = out.get("runway_s")
    print_table(
        {
            "allowed_w": out.get("allowed_w"),
            "runway_s": "no limit" if runway is None else runway,
            "derating": out.get("derating"),
            "duty_cycle": out.get("duty_cycle"),
        }
    )
    for reason in out.get("reasons") or ["no limit binds"]:
        print(f"  - {reason}")


def _ask_daemon(args: argparse.Namespace) -> int:
    answer = _call_daemon("GetBudget")
    if answer is None:
        return 1
    _print_budget(answer, args.json)
    return 0


def _curtail(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {
        "duration_s": args.duration * 60.0,
        "start_in_s": args.start_in,
        "randomize_s": args.randomize,
    }
    if args.level is not None:
        request["level"] = args.level
    else:
        request["import_limit_kw"] = args.limit_kw
    if args.id:
        request["id"] = args.id
    accepted = _call_daemon("AddCurtailment", json.dumps(request))
    if accepted is None:
        return 1
    if args.json:
        print_json(accepted)
    else:
        print_table(accepted)
    return 0


def _call_daemon(method: str, *params: str) -> Any:
    """The daemon's JSON answer, or None after printing why it refused.

    Raises:
        DaemonUnreachable: the daemon is not on the bus (the command line exits 3).
    """
    from supervisor.api.client import DaemonUnreachable, call_json

    try:
        return call_json(method, *params)
    except DaemonUnreachable:
        raise  # the command line's one status for it (`EX_UNREACHABLE`)
    except (ConnectionError, OSError) as exc:
        raise DaemonUnreachable(f"daemon not reachable: {exc}") from exc
    except (RuntimeError, ValueError) as exc:
        print(f"parkmesh: the daemon refused {method}: {exc}", file=sys.stderr)
    return None


def _simulate_night(args: argparse.Namespace) -> int:
    import dataclasses

    from thermal.night import NightScenario, simulate_night

    d = NightScenario()
    changes: dict[str, Any] = {}
    for flag, field in (
        ("soc", "soc_percent"),
        ("capacity_kwh", "capacity_kwh"),
        ("charge_kw", "charge_kw"),
        ("compute_kw", "compute_kw"),
        ("floor", "floor_percent"),
        ("target", "target_percent"),
    ):
        if getattr(args, flag) is not None:
            changes[field] = getattr(args, flag)
    if args.plugged is False:
        changes["charge_kw"] = 0.0
    if args.allow_on_battery:
        changes["allow_on_battery"] = True
    if args.departure not in (False, None):
        changes["departure"] = args.departure
    if args.arrive is not None:
        changes["arrive"] = datetime.combine(d.arrive.date(), args.arrive)
    if args.no_curtailment:
        changes["curtailment_start"] = None
    scenario = dataclasses.replace(d, **changes)
    cfg = _config(args, nominal_compute_w=scenario.compute_kw * 1000.0)
    result = simulate_night(scenario, cfg)
    out = result.to_json()
    if args.plot is not None:
        from thermal.plot import plot_night

        plot_night(result, scenario, args.plot)
        out["plot"] = str(args.plot)
    if args.json:
        print_json(out)
    else:
        print_table(out)
    return 0


def _config(args: argparse.Namespace, **overrides: Any) -> Any:
    import dataclasses

    from thermal.config import BudgetConfig

    cfg = BudgetConfig()
    if args.config is not None:
        from supervisor.config.load import load_config

        cfg = load_config(args.config).budget
    if getattr(args, "compute_kw", None) is not None:
        overrides["nominal_compute_w"] = args.compute_kw * 1000.0
    return dataclasses.replace(cfg, **overrides)


def _prefs(args: argparse.Namespace) -> Any:
    from thermal.preferences import EVERY_DAY, Departure, OwnerPreferences

    defaults = OwnerPreferences()
    departures = defaults.departures
    if args.departure is None:
        departures = ()
    elif args.departure is not False or args.target is not None:
        at = args.departure if args.departure is not False else departures[0].at
        target = args.target if args.target is not None else departures[0].target_percent
        departures = (Departure(EVERY_DAY, at, target),)
    return OwnerPreferences(
        charge_floor_percent=defaults.charge_floor_percent if args.floor is None else args.floor,
        allow_compute_on_battery=bool(args.allow_on_battery),
        departures=departures,
    )
