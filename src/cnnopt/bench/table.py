"""Rich tables for bench and eval results: what a person reads; JSON is what tools read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table

if TYPE_CHECKING:
    from cnnopt.bench.benchmark import BenchResult
    from cnnopt.evaluation import EvalResult


def human_count(value: float | None, unit: str = "") -> str:
    """12_345_678 -> '12.35 M': counts span six orders of magnitude across the zoo."""
    if value is None:
        return "-"
    for threshold, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " K")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f}{suffix}{unit}"
    return f"{value:.0f}{' ' + unit if unit else ''}"


def human_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or suffix == "GiB":
            return f"{size:.0f} {suffix}" if suffix == "B" else f"{size:.2f} {suffix}"
        size /= 1024
    return f"{value} B"


def _ms(value: float | None) -> str:
    """About four significant digits: 0.133, 12.94, 308.4 (keeps the table within 80 columns)."""
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def bench_renderable(result: BenchResult) -> Group:
    """Latency per batch size, model cost, the op profile and the machine, as one block."""
    first = result.records[0]
    shape = "x".join(str(d) for d in result.input_shape)
    latency = Table(
        title=f"{first.model} on {first.runtime} ({first.precision}), input {shape}, latency in ms"
    )
    for column in ("batch", "p50", "p90", "p99", "mean", "std", "img/s", "runs", "peak mem"):
        latency.add_column(column, justify="right", no_wrap=True)
    for record in result.records:
        stats = record.extra.get("latency", {})
        latency.add_row(
            str(record.batch_size),
            _ms(record.latency_ms_p50),
            _ms(record.latency_ms_p90),
            _ms(record.latency_ms_p99),
            _ms(stats.get("mean_ms")),
            _ms(stats.get("std_ms")),
            f"{record.throughput:.1f}" if record.throughput else "-",
            str(stats.get("runs", "-")),
            human_bytes(record.peak_memory_bytes),
        )
    cost = Table(title="model cost")
    for column in ("params", "MACs / image", "serialized size", "threads"):
        cost.add_column(column, justify="right")
    cost.add_row(
        human_count(first.params),
        human_count(first.macs),
        human_bytes(first.file_size_bytes),
        str(first.threads if first.threads is not None else "-"),
    )
    parts: list[Any] = [latency, cost]
    if result.profile:
        ops = Table(title=f"top ops by self CPU time (batch {result.profile_batch_size})")
        ops.add_column("op")
        for column in ("ms / forward", "calls", "%"):
            ops.add_column(column, justify="right")
        for op in result.profile:
            ops.add_row(op.op, f"{op.self_cpu_ms:.3f}", str(op.calls), f"{op.percent:.1f}")
        parts.append(ops)
    parts.append(machine_line(result.machine))
    return Group(*parts)


def machine_line(machine: dict[str, Any]) -> str:
    flags = ", ".join(k for k, v in machine.get("cpu_flags", {}).items() if v) or "none"
    versions = machine.get("versions", {})
    return (
        f"[dim]{machine.get('cpu', '?')}, {machine.get('logical_cores', '?')} logical cores, "
        f"flags: {flags}; torch {versions.get('torch', '?')}, "
        f"{machine.get('torch_threads', '?')} torch threads[/dim]"
    )


def eval_renderable(result: EvalResult, title: str = "evaluation") -> Group:
    """Headline accuracy, then precision/recall/F1 per class with support."""
    summary = Table(title=title)
    for column in ("samples", "top-1", "top-5", "macro precision", "macro recall", "macro F1"):
        summary.add_column(column, justify="right")
    summary.add_row(
        str(result.num_samples),
        f"{100 * result.accuracy:.2f}%",
        "-" if result.top5 is None else f"{100 * result.top5:.2f}%",
        f"{result.macro_precision:.4f}",
        f"{result.macro_recall:.4f}",
        f"{result.macro_f1:.4f}",
    )
    per_class = Table(title="per class")
    per_class.add_column("class")
    for column in ("precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="right")
    for name, metrics in result.per_class.items():
        per_class.add_row(
            name,
            f"{metrics['precision']:.4f}",
            f"{metrics['recall']:.4f}",
            f"{metrics['f1']:.4f}",
            str(int(metrics["support"])),
        )
    return Group(summary, per_class)


def print_renderable(renderable: Any, console: Console | None = None) -> None:
    """Results go to stdout (progress bars use stderr), so `cnnopt bench > file` keeps them."""
    (console or Console()).print(renderable)
