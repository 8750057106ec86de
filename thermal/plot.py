"""The plot of ``parkmesh simulate-night``: SoC, compute power and temperatures over the night.

matplotlib with the Agg backend (no display needed); imported only when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

from .night import NightResult, NightScenario


def plot_night(result: NightResult, scenario: NightScenario, path: Path) -> None:
    """Write a three-panel PNG of `result` to `path`.

    Raises:
        OSError: `path` cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (ax_soc, ax_pow, ax_temp) = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    t = result.minutes
    ax_soc.plot(t, result.soc, color="tab:blue", label="state of charge")
    ax_soc.axhline(scenario.floor_percent, color="tab:red", ls="--", lw=1, label="floor")
    ax_soc.axhline(
        scenario.target_percent, color="tab:green", ls=":", lw=1, label="departure target"
    )
    ax_soc.set_ylabel("SoC (%)")
    ax_soc.set_ylim(0, 100)
    ax_soc.legend(loc="lower right")
    ax_soc.set_title(
        f"parkmesh simulate-night: leaves at {result.departure_soc:.1f} %, "
        f"{result.compute_hours:.1f} h / {result.compute_kwh:.1f} kWh of compute"
    )

    ax_pow.fill_between(
        t, result.compute_w, step="post", color="tab:orange", alpha=0.6, label="compute power"
    )
    ax_pow.set_ylabel("compute (W)")
    ax_pow.set_ylim(0, scenario.compute_kw * 1000.0 * 1.1)
    ax_pow.legend(loc="upper right")

    for name, series in result.temps.items():
        ax_temp.plot(t, series, label=name)
    ax_temp.set_ylabel("temperature (°C)")
    hottest = max((max(s) for s in result.temps.values() if s), default=40.0)
    ax_temp.set_ylim(top=hottest + 15.0)  # room for the legend above the lines
    ax_temp.legend(loc="upper left", ncol=5)

    if result.curtailment is not None:
        start, end = result.curtailment
        for ax in (ax_soc, ax_pow, ax_temp):
            ax.axvspan(start, end, color="grey", alpha=0.2, lw=0)
        ax_pow.text(start, scenario.compute_kw * 1000.0 * 1.02, " curtailment", fontsize=8)
    ax_temp.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    for ax in (ax_soc, ax_pow, ax_temp):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
