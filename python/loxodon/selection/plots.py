"""Pictures of a search: learning curves of every trial, and a Gantt chart of
the schedule (worker x time, coloured by trial). PNG files through
matplotlib's Agg backend, so they work on a headless driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loxodon.selection.strategies import INSTALL_SELECTION

_LEGEND_MAX = 30  # more trials than this: no legend entry per trial, it would hide the plot


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"the search plots need matplotlib: {INSTALL_SELECTION}") from exc

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colours(plt: Any, trials: Sequence[int]) -> dict[int, Any]:
    """Distinct colours: tab10 up to 10 trials, then tab20 with its light/dark pairs
    split apart (neighbouring trial ids get different hues), then a continuous map."""
    n = len(trials)
    if n <= 10:
        palette = [plt.get_cmap("tab10")(i) for i in range(n)]
    elif n <= 20:
        tab20 = plt.get_cmap("tab20")
        palette = [tab20(i) for i in [*range(0, 20, 2), *range(1, 20, 2)]][:n]
    else:
        turbo = plt.get_cmap("turbo")
        palette = [turbo(0.05 + 0.9 * i / (n - 1)) for i in range(n)]
    return dict(zip(sorted(trials), palette, strict=True))


def learning_curves(history: Sequence[Mapping[str, Any]], metric: str, path: str) -> str:
    """One line per trial of ``metric`` against epoch (1-based on the axis). A trial
    that ended before the longest one ends with a cross, so early stops stand out."""
    plt = _pyplot()
    by_trial: dict[int, list[tuple[int, float]]] = {}
    for row in history:
        if metric in row:
            by_trial.setdefault(int(row["trial_id"]), []).append(
                (int(row["epoch"]) + 1, float(row[metric]))
            )
    if not by_trial:
        raise ValueError(f"no history row has {metric!r}")
    longest = max(epoch for points in by_trial.values() for epoch, _ in points)
    colour = _colours(plt, list(by_trial))
    fig, ax = plt.subplots(figsize=(8, 5))
    stopped_early = 0
    for trial, points in sorted(by_trial.items()):
        points.sort()
        epochs, values = zip(*points, strict=True)
        ax.plot(epochs, values, marker="o", ms=3, color=colour[trial], label=str(trial))
        if epochs[-1] < longest:
            stopped_early += 1
            ax.plot(epochs[-1], values[-1], marker="x", ms=9, mew=2, color=colour[trial])
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    title = f"{metric} per trial"
    if stopped_early:
        title += f" (x: {stopped_early} stopped before epoch {longest})"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(by_trial) <= _LEGEND_MAX:
        ax.legend(title="trial", fontsize=7, ncol=1 + len(by_trial) // 11, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gantt(schedule: Sequence[Mapping[str, Any]], path: str) -> str:
    """Bars of units per worker over time, coloured by trial; eval units lighter and
    hatched, units with ``status == "lost"`` crossed."""
    plt = _pyplot()
    units = [u for u in schedule if u.get("end_s") is not None and u["end_s"] == u["end_s"]]
    if not units:
        raise ValueError("the schedule has no finished unit")
    workers = sorted({int(u["worker"]) for u in units})
    trials = sorted({int(u["trial_id"]) for u in units})
    colour = _colours(plt, trials)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * len(workers)))
    for u in units:
        start, end = float(u["start_s"]), float(u["end_s"])
        kind = u.get("kind", "train")
        ax.barh(
            int(u["worker"]),
            end - start,
            left=start,
            height=0.7,
            color=colour[int(u["trial_id"])],
            alpha=0.45 if kind != "train" else 1.0,
            hatch="//" if kind == "eval" else ("xx" if u.get("status") == "lost" else None),
            edgecolor="black",
            linewidth=0.3,
        )
    ax.set_yticks(workers, [f"worker {w}" for w in workers])
    ax.set_xlabel("seconds since the search began")
    ax.set_title("schedule: train units solid, eval units hatched, lost units crossed")
    if len(trials) <= _LEGEND_MAX:
        handles = [plt.Rectangle((0, 0), 1, 1, color=colour[t]) for t in trials]
        ax.legend(
            handles,
            [str(t) for t in trials],
            title="trial",
            fontsize=7,
            ncol=1 + len(trials) // 11,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
