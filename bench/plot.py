"""Charts of the latest run of each benchmark: ``results/<name>.csv`` -> ``results/<name>.png``
(``<name>-quick.png`` for a ``--quick`` run).

Run: ``.venv/bin/python bench/plot.py [fanout echo connections tenancy controlplane]``
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
COLORS = {
    "gb": "#1f77b4",
    "picows": "#ff7f0e",
    "websockets": "#2ca02c",
    "node-ws": "#d62728",
    "bare": "#9467bd",
}

Row = dict[str, str]


def latest(name: str, mode: str | None = None) -> list[Row]:
    """The rows of the most recent run (same ``date``) in ``results/<name>.csv``.

    ``mode`` picks ``full`` or ``quick`` runs; by default the latest full run if there is
    one, so a CI smoke run does not replace the charts of the last real run.
    """
    path = RESULTS / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    wanted = mode or ("full" if any(r.get("mode") == "full" for r in rows) else "quick")
    rows = [r for r in rows if r.get("mode") == wanted]
    if not rows:
        return []
    last = max(r["date"] for r in rows)
    return [r for r in rows if r["date"] == last]


def _num(row: Row, key: str) -> float:
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return float("nan")


def _grouped(
    ax: plt.Axes, rows: list[Row], group: Callable[[Row], str], key: str, title: str
) -> None:
    groups = list(dict.fromkeys(group(r) for r in rows))
    servers = list(dict.fromkeys(r["server"] for r in rows))
    width = 0.8 / max(1, len(servers))
    for i, server in enumerate(servers):
        values = []
        for g in groups:
            match = [r for r in rows if group(r) == g and r["server"] == server]
            values.append(_num(match[0], key) if match else float("nan"))
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(groups))]
        ax.bar(xs, values, width, label=server, color=COLORS.get(server))
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _save(fig: plt.Figure, rows: list[Row], name: str, what: str) -> Path:
    r = rows[0]
    fig.suptitle(
        f"{what} ({r['mode']}) — {r['date']} commit {r['commit']} — {r['machine']}, {r['cpu']}",
        fontsize=10,
    )
    fig.tight_layout()
    # A quick (CI smoke) run gets its own file so it never replaces the charts of a full run.
    out = RESULTS / (f"{name}.png" if r["mode"] == "full" else f"{name}-quick.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_fanout(mode: str | None = None) -> Path | None:
    """Deliveries/s, deliveries per server CPU second and p99 latency per configuration."""
    rows = latest("fanout", mode)
    if not rows:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    label = lambda r: f"S={int(_num(r, 'subscribers')):,}\n{r['payload']} B, w={r['window']}"  # noqa: E731
    _grouped(axes[0], rows, label, "deliveries_per_s", "deliveries / s (wall)")
    _grouped(axes[1], rows, label, "deliveries_per_cpu_s", "deliveries / server CPU-second")
    axes[1].axhline(150_000, color="grey", linestyle="--", linewidth=1)
    _grouped(axes[2], rows, label, "p99_ms", "publish→deliver p99 (ms)")
    axes[0].legend(fontsize=8)
    return _save(fig, rows, "fanout", "fan-out, one channel")


def plot_echo(mode: str | None = None) -> Path | None:
    """Round trips/s and latency per connection count."""
    rows = latest("echo", mode)
    if not rows:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    label = lambda r: f"{r['connections']} conn"  # noqa: E731
    _grouped(axes[0], rows, label, "round_trips_per_s", "round trips / s")
    _grouped(axes[1], rows, label, "p50_us", "p50 (µs)")
    _grouped(axes[2], rows, label, "p99_us", "p99 (µs)")
    axes[0].legend(fontsize=8)
    return _save(fig, rows, "echo", "echo 64 B")


def plot_connections(mode: str | None = None) -> Path | None:
    """Memory per idle connection and connect rate."""
    rows = latest("connections", mode)
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    label = lambda r: f"{r['scenario']}\n{int(_num(r, 'held')):,} conns, {r['workers']} proc"  # noqa: E731
    _grouped(axes[0], rows, label, "bytes_per_conn", "server bytes per idle connection")
    _grouped(axes[1], rows, label, "connects_per_s", "connect (+HELLO) per second")
    axes[0].legend(fontsize=8)
    return _save(fig, rows, "connections", "idle connections")


def plot_tenancy(mode: str | None = None) -> Path | None:
    """Cached lookup cost per step against the 2 µs target; hit rate and cost under churn."""
    rows = latest("tenancy", mode)
    if not rows:
        return None
    cached = [r for r in rows if r["phase"] == "cached"]
    churn = [r for r in rows if r["phase"] == "churn"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    names = [r["what"] for r in cached]
    axes[0].bar(names, [_num(r, "ns_per_lookup") for r in cached], color=COLORS["gb"])
    axes[0].axhline(2000, color="grey", linestyle="--", linewidth=1, label="target 2 µs")
    axes[0].set_title("cached lookup: ns (total and each step alone)", fontsize=10)
    axes[0].tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8)
    labels = [f"{_num(r, 'churn_pct'):g} %" for r in churn]
    for key, name in (
        ("hit_rate", "all caches"),
        ("token_hit_rate", "token"),
        ("map_hit_rate", "shard map"),
        ("quota_hit_rate", "quotas"),
    ):
        axes[1].plot(labels, [100 * _num(r, key) for r in churn], marker="o", label=name)
    axes[1].set_title("hit rate (%) by tokens new per second", fontsize=10)
    axes[1].legend(fontsize=8)
    width = 0.4
    xs = range(len(churn))
    axes[2].bar(
        [x - width / 2 for x in xs], [_num(r, "ns_per_lookup") for r in churn], width, label="all"
    )
    axes[2].bar(
        [x + width / 2 for x in xs],
        [_num(r, "hit_ns_per_lookup") for r in churn],
        width,
        label="hits",
    )
    axes[2].set_xticks(list(xs), labels)
    axes[2].set_title("mean ns per lookup under churn", fontsize=10)
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, rows, "tenancy", "tenant resolution token → tenant → shard → quotas")


def plot_controlplane(mode: str | None = None) -> Path | None:
    """Requests/s (wall and per server CPU-second) and p99 of gb against bare FastAPI."""
    rows = latest("controlplane", mode)
    if not rows:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    label = lambda r: {"get": "GET instance", "list": "GET instances?limit=50"}[r["endpoint"]]  # noqa: E731
    _grouped(axes[0], rows, label, "req_per_s", "requests / s (wall)")
    _grouped(axes[1], rows, label, "req_per_server_cpu_s", "requests / server CPU-second")
    _grouped(axes[2], rows, label, "p99_ms", "p99 latency (ms)")
    axes[0].legend(fontsize=8)
    return _save(fig, rows, "controlplane", "control-plane reads, gb vs bare FastAPI")


PLOTS = {
    "fanout": plot_fanout,
    "echo": plot_echo,
    "connections": plot_connections,
    "tenancy": plot_tenancy,
    "controlplane": plot_controlplane,
}


def main(names: list[str] | None = None, mode: str | None = None) -> list[Path]:
    """Draw the named charts (all by default) from runs of ``mode``; returns the files."""
    out = []
    for name in names or list(PLOTS):
        path = PLOTS[name](mode)
        if path is not None:
            print(f"wrote {path}")
            out.append(path)
    return out


if __name__ == "__main__":
    main(sys.argv[1:] or None)
