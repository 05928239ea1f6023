"""The benchmark's report: latest.json (everything), latest.md (tables) and latest.png (plot)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def write(results: dict[str, Any], out: Path, *, smoke: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["targets"] = [] if smoke else targets(results)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "latest.md").write_text(markdown(results))
    plot(results, out / "latest.png")


def _row(results: dict[str, Any], database: str, endpoint: str) -> Row | None:
    for row in results["rows"]:
        if row["database"] == database and row["endpoint"] == endpoint:
            return row
    return None


def targets(results: dict[str, Any]) -> list[Row]:
    """Issue 6's targets, each as measured against the bare ceiling of the same run."""
    bare = _row(results, "bare", "GET /bare (ceiling)")
    found: list[Row] = []

    def check(name: str, value: float, goal: str, met: bool) -> None:
        found.append({"target": name, "measured": value, "goal": goal, "met": met})

    for database in ("sqlite", "postgresql"):
        subscription = _row(results, database, "GET /subscription")
        plans = _row(results, database, "GET /plans")
        if bare and subscription:
            ratio = round(subscription["rps"] / bare["rps"], 2)
            check(f"GET /subscription req/s vs bare [{database}]", ratio, ">= 0.85x", ratio >= 0.85)
            ratio = round(subscription["p99_ms"] / bare["p99_ms"], 2)
            check(f"GET /subscription p99 vs bare [{database}]", ratio, "<= 2x", ratio <= 2)
        if bare and plans:
            ratio = round(plans["rps"] / bare["rps"], 2)
            check(f"GET /plans req/s vs bare [{database}]", ratio, ">= 0.9x", ratio >= 0.9)
    webhook = _row(results, "postgresql", "POST /webhook")
    if bare and webhook:
        ratio = round(webhook["rps"] / bare["rps"], 2)
        check("POST /webhook req/s vs bare [postgresql]", ratio, ">= 0.6x", ratio >= 0.6)
    for database in ("sqlite", "postgresql"):
        checkout = _row(results, database, "POST /create-checkout-session")
        direct = results["direct_sdk_checkout"].get(database)
        if direct and checkout:
            overhead = round(checkout["p50_ms"] - direct["p50_ms"], 2)
            check(
                f"checkout p50 overhead over direct SDK, ms [{database}]",
                overhead,
                "<= 3 ms",
                overhead <= 3,
            )
    for server, rss in results["worker_rss_mb"].items():
        if server != "bare":
            check(f"worker RSS after the run, MB [{server}]", rss, "<= 80 MB", rss <= 80)
    seconds = results["create_app"]["create_app_s"]
    check("create_app() seconds", seconds, "<= 0.5 s", seconds <= 0.5)
    return found


def markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        "# Benchmark results" + (" (smoke run: figures mean nothing)" if settings["smoke"] else ""),
        "",
        f"{results['finished_at']}, {results['machine']['cpus']} CPUs, Python "
        f"{results['machine']['python']}. gunicorn {settings['workers']} {settings['worker_class']}"
        f" workers for every target; {settings['load_generator']}, {settings['connections']} "
        f"connections ({settings['checkout_connections']} for checkout), "
        f"{settings['duration_s']:g} s per target; {settings['users']:,} users. Load average "
        f"(1 min) {results['load_average']['before'][0]:.2f} before, "
        f"{results['load_average']['after'][0]:.2f} after.",
        "",
        "| endpoint | database | req/s | p50 ms | p99 ms | vs bare req/s | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    bare = _row(results, "bare", "GET /bare (ceiling)")
    for row in results["rows"]:
        ratio = f"{row['rps'] / bare['rps']:.2f}x" if bare else "-"
        lines.append(
            f"| {row['endpoint']} | {row['database']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {ratio} | {row['errors']} |"
        )
    for database, direct in results["direct_sdk_checkout"].items():
        lines.append(
            f"| direct SDK checkout call, right after the app's (no app) | {database} | "
            f"{direct['rps']:,.0f} | {direct['p50_ms']:.2f} | {direct['p99_ms']:.2f} | - | 0 |"
        )
    lines += [
        "",
        "Worker RSS after the run (MB): "
        + ", ".join(f"{name} {mb}" for name, mb in results["worker_rss_mb"].items())
        + f". `import billing_service`: {results['create_app']['import_s']:.3f} s; "
        f"`create_app()`: {results['create_app']['create_app_s']:.3f} s.",
    ]
    if results["targets"]:
        lines += ["", "| target | measured | goal | met |", "|---|---:|---|---|"]
        for target in results["targets"]:
            met = "yes" if target["met"] else "**no**"
            lines.append(
                f"| {target['target']} | {target['measured']} | {target['goal']} | {met} |"
            )
    for skipped in results.get("skipped", []):
        lines += ["", f"Skipped: {skipped}"]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput and latency of each endpoint, beside the bare-Flask ceiling."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("No plot: matplotlib is not installed (pip install -e '.[bench]')")
        return
    bare = _row(results, "bare", "GET /bare (ceiling)")
    endpoints = list(
        dict.fromkeys(r["endpoint"] for r in results["rows"] if r["database"] != "bare")
    )
    databases = [
        d for d in ("sqlite", "postgresql") if any(r["database"] == d for r in results["rows"])
    ]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.8 / max(1, len(databases))
    colours = {"sqlite": "#4c78a8", "postgresql": "#f58518"}
    for index, database in enumerate(databases):
        rows = [_row(results, database, endpoint) for endpoint in endpoints]
        xs = [i + (index - (len(databases) - 1) / 2) * width for i in range(len(endpoints))]
        throughput.bar(
            xs, [r["rps"] if r else 0 for r in rows], width, label=database, color=colours[database]
        )
        latency.bar(
            xs,
            [r["p50_ms"] if r else 0 for r in rows],
            width,
            color=colours[database],
            label=f"{database} p50",
        )
        latency.scatter(
            xs,
            [r["p99_ms"] if r else 0 for r in rows],
            marker="_",
            s=400,
            color="black",
            zorder=3,
            label="p99" if index == 0 else None,
        )
        for x, row in zip(xs, rows, strict=True):
            if row and bare:
                throughput.annotate(
                    f"{row['rps'] / bare['rps']:.2f}x",
                    (x, row["rps"]),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
        direct = results["direct_sdk_checkout"].get(database)
        if direct and "POST /create-checkout-session" in endpoints:
            x = xs[endpoints.index("POST /create-checkout-session")]
            latency.scatter(
                [x],
                [direct["p50_ms"]],
                marker="*",
                s=120,
                color="red",
                zorder=4,
                label="direct SDK call p50" if index == 0 else None,
            )
    if bare:
        throughput.axhline(
            bare["rps"],
            color="green",
            linestyle="--",
            label=f"bare Flask ceiling ({bare['rps']:,.0f} req/s)",
        )
        latency.axhline(
            bare["p50_ms"],
            color="green",
            linestyle="--",
            label=f"bare p50 ({bare['p50_ms']:.2f} ms)",
        )
        latency.axhline(
            bare["p99_ms"],
            color="green",
            linestyle=":",
            label=f"bare p99 ({bare['p99_ms']:.2f} ms)",
        )
    labels = [
        e.replace(" /", "\n/").replace("-checkout-", "-checkout-\n")
        + ("\n(1 connection)" if "checkout" in e else "")
        for e in endpoints
    ]
    for axis, title, unit in (
        (throughput, "Throughput", "requests/s"),
        (latency, "Latency (bars p50, ticks p99)", "ms"),
    ):
        axis.set_xticks(range(len(endpoints)), labels, fontsize=9)
        axis.set_title(title)
        axis.set_ylabel(unit)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    latency.set_yscale("log")
    settings = results["settings"]
    figure.suptitle(
        f"billing_service vs bare Flask, gunicorn {settings['workers']} sync workers, "
        f"{results['machine']['cpus']} CPUs, {settings['users']:,} users"
        + (" (smoke run)" if settings["smoke"] else "")
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
