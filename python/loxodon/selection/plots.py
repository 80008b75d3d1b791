"""Pictures of a search: learning curves of every trial, and a Gantt chart of
the schedule (worker x time, coloured by trial). PNG files through
matplotlib's Agg backend, so they work on a headless driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: Sequence[Mapping[str, Any]], metric: str, path: str) -> str:
    """One line per trial of ``metric`` against epoch; a trial stopped early ends early."""
    plt = _pyplot()
    by_trial: dict[int, list[tuple[int, float]]] = {}
    for row in history:
        if metric in row:
            by_trial.setdefault(int(row["trial_id"]), []).append(
                (int(row["epoch"]) + 1, float(row[metric]))
            )
    if not by_trial:
        raise ValueError(f"no history row has {metric!r}")
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20")
    for i, (trial, points) in enumerate(sorted(by_trial.items())):
        points.sort()
        ax.plot(*zip(*points, strict=True), marker="o", ms=3, color=cmap(i % 20), label=str(trial))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per trial")
    ax.grid(alpha=0.3)
    ax.legend(title="trial", fontsize=7, ncol=2 if len(by_trial) > 10 else 1, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gantt(schedule: Sequence[Mapping[str, Any]], path: str) -> str:
    """Bars of units per worker over time, coloured by trial; eval units hatched."""
    plt = _pyplot()
    units = [u for u in schedule if u.get("end_s") is not None and u["end_s"] == u["end_s"]]
    if not units:
        raise ValueError("the schedule has no finished unit")
    workers = sorted({int(u["worker"]) for u in units})
    trials = sorted({int(u["trial_id"]) for u in units})
    cmap = plt.get_cmap("tab20")
    colour = {t: cmap(i % 20) for i, t in enumerate(trials)}
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
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[t]) for t in trials]
    ax.legend(
        handles,
        [str(t) for t in trials],
        title="trial",
        fontsize=7,
        ncol=max(1, len(trials) // 8),
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
