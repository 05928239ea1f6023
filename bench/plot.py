"""latest.png: each endpoint as a ratio to its reference (req/s and p99), its goal marked, and its
ratio to the bare ceiling beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"sqlite": "#4c78a8", "postgresql": "#f58518"}


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("No plot: matplotlib is not installed (pip install -e '.[bench]')")
        # An older run's plot beside these results would show other figures as theirs.
        path.unlink(missing_ok=True)
        return
    from bench.report import GOALS

    found = results["comparisons"]
    endpoints = list(dict.fromkeys(c["endpoint"] for c in found))
    databases = [d for d in COLOURS if any(c["database"] == d for c in found)]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(15, 6))
    width = 0.8 / max(1, len(databases))
    for index, database in enumerate(databases):
        offset = (index - (len(databases) - 1) / 2) * width
        for position, endpoint in enumerate(endpoints):
            c = next(
                (c for c in found if c["endpoint"] == endpoint and c["database"] == database), None
            )
            if c is None:
                continue
            x = position + offset
            at_least, at_most = GOALS[c["kind"]]
            first = position == 0
            _bar(throughput, x, c["rps_ratio"], width, database, first)
            _goal(throughput, x, width, at_least, first and index == 0)
            if c["ceiling_rps_ratio"] is not None:
                throughput.scatter(
                    [x],
                    [c["ceiling_rps_ratio"]],
                    marker="D",
                    s=30,
                    color="green",
                    zorder=4,
                    label="x bare ceiling" if first and index == 0 else None,
                )
            _bar(latency, x, c["p99_ratio"], width, database, first)
            if at_most is not None:
                _goal(latency, x, width, at_most, first and index == 0)
    labels = [e.replace("POST /webhook, ", "webhook\n").replace(", ", ",\n") for e in endpoints]
    for axis, title in (
        (throughput, "req/s as x its reference (higher is better)"),
        (latency, "p99 as x its reference (lower is better)"),
    ):
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_xticks(range(len(endpoints)), labels, fontsize=8)
        axis.set_title(title)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    settings = results["settings"]
    figure.suptitle(
        "billing_service against the same work done by the least code (GET /plans: a bare "
        f"constant list)\ngunicorn {settings['workers']} sync workers, wrk {settings['threads']}"
        f" threads x {settings['connections']} connections, {results['machine']['cpus']} CPUs"
        + (" (smoke run: figures mean nothing)" if settings["smoke"] else "")
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _bar(
    axis: Any, x: float, value: float | None, width: float, database: str, label: bool
) -> None:
    if value is None:
        return
    axis.bar([x], [value], width, color=COLOURS[database], label=database if label else None)
    axis.annotate(f"{value:.2f}x", (x, value), ha="center", va="bottom", fontsize=7)


def _goal(axis: Any, x: float, width: float, goal: float, label: bool) -> None:
    axis.hlines(
        goal,
        x - width / 2,
        x + width / 2,
        colors="red",
        linestyles="--",
        label="goal" if label else None,
    )
