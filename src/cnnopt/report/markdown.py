"""report.md: the same story as report.html as plain text, for pull requests and terminals."""

from __future__ import annotations

from typing import Any


def _cell(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def markdown_report(results: dict[str, Any]) -> str:
    from cnnopt.search.results import summary_line

    records = results.get("records", [])
    lines = [
        f"# cnnopt optimize: {results.get('model', '')} on {results.get('dataset', '')}",
        "",
        f"**{summary_line(results)}**",
        "",
        f"Rule: {(results.get('recommended') or {}).get('reason', '')}.",
        "",
        "| trial | candidate | val acc | test acc | p50 ms | size MB | front |",
        "|---:|---|---:|---:|---:|---:|:-:|",
    ]
    for r in records:
        extra = r.get("extra") or {}
        size = r.get("file_size_bytes")
        front = "*" if extra.get("pareto") else ""
        name = r.get("name") or f"failed: {r.get('error', '')}"
        lines.append(
            f"| {extra.get('trial', '')} | {name} | {_cell(r.get('accuracy'), '.2%')} | "
            f"{_cell(extra.get('test_accuracy'), '.2%')} | {_cell(r.get('latency_ms_p50'), '.3g')} "
            f"| {_cell(size / 1e6 if size else None, '.2f')} | {front} |"
        )
    lines += ["", f"Knee rule: {results.get('knee_method', '')}.", ""]
    return "\n".join(lines)
