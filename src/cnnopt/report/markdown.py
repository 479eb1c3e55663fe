"""report.md: the same story as report.html as plain text, for pull requests and terminals."""

from __future__ import annotations

from typing import Any


def _cell(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def robustness_cell(robustness: dict[str, Any] | None) -> str:
    """'FGSM 71% / PGD 58% (white-box)' for tables; '-' when the candidate was not attacked."""
    if not robustness:
        return "-"
    mode = robustness.get("mode", "?")
    if "error" in robustness:
        return f"failed ({mode})"
    parts = [
        f"{kind.upper()} {robustness[kind] * 100:.0f}%"
        for kind in ("fgsm", "pgd")
        if isinstance(robustness.get(kind), int | float)
    ]
    return f"{' / '.join(parts) or '-'} ({mode})"


def robustness_note(results: dict[str, Any]) -> str:
    """How the robustness column was measured, so nobody reads transfer numbers as white-box."""
    settings = results.get("robustness") or {}
    if not settings.get("enabled", False):
        return "Robustness: not measured (run with --robustness)."
    return (
        f"Robust accuracy, Pareto front only: {settings.get('description', '')}. "
        "white-box = attacked through the candidate's own gradients (eager fp32); transfer = "
        "adversarial images crafted on the candidate's float model, then fed to the artifact "
        "(ONNX Runtime, OpenVINO, compiled, bf16, int8), a weaker attack, so an upper bound."
    )


def output_line(results: dict[str, Any]) -> str:
    """Which output of a several-output model was judged ('' for a single-tensor model)."""
    output = results.get("output")
    if not output or output == "logits (single output)":
        return ""
    return (
        f"Prediction: the model's {output}; accuracy, parity and latency use it, the "
        "exported files keep every output."
    )


def markdown_report(results: dict[str, Any]) -> str:
    from cnnopt.search.deadline import budget_line
    from cnnopt.search.results import summary_line

    records = results.get("records", [])
    lines = [
        f"# cnnopt optimize: {results.get('model', '')} on {results.get('dataset', '')}",
        "",
        f"**{summary_line(results)}**",
        "",
        f"Rule: {(results.get('recommended') or {}).get('reason', '')}.",
        "",
        *([f"Time: {budget_line(results)}.", ""] if budget_line(results) else []),
        *([output_line(results), ""] if output_line(results) else []),
        "| trial | candidate | val acc | test acc | robust acc (attack) | p50 ms | size MB "
        "| front |",
        "|---:|---|---:|---:|---|---:|---:|:-:|",
    ]
    for r in records:
        extra = r.get("extra") or {}
        size = r.get("file_size_bytes")
        front = "*" if extra.get("pareto") else ""
        name = r.get("name") or f"failed: {r.get('error', '')}"
        lines.append(
            f"| {extra.get('trial', '')} | {name} | {_cell(r.get('accuracy'), '.2%')} | "
            f"{_cell(extra.get('test_accuracy'), '.2%')} | "
            f"{robustness_cell(r.get('robustness'))} | "
            f"{_cell(r.get('latency_ms_p50'), '.3g')} "
            f"| {_cell(size / 1e6 if size else None, '.2f')} | {front} |"
        )
    lines += ["", robustness_note(results), "", f"Knee rule: {results.get('knee_method', '')}.", ""]
    return "\n".join(lines)
