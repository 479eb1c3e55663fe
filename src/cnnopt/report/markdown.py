"""report.md: the same story as report.html as plain text, for pull requests and terminals."""

from __future__ import annotations

from typing import Any

from cnnopt.record import Record


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


def record_list(results: dict[str, Any]) -> tuple[list[Record], Record | None]:
    records = [Record.from_dict(r) for r in results.get("records", [])]
    base = results.get("baseline")
    return records, records[base] if base is not None else None


def speedup_cell(record: Record, base: Record | None) -> str:
    """'3.1x (2.9-3.3)' re-timed beside the baseline; '~3.1x' search-time only; '?' when the
    interval includes 1x, 'moved' when re-timing changed it, 'unsteady' for a timing whose
    blocks kept disagreeing."""
    if base is None or record.status != "ok" or not record.latency_ms_p50:
        return "-"
    if record is base:
        return "1x (baseline)"
    confirmed = record.extra.get("speedup")
    if isinstance(confirmed, dict) and "ratio" in confirmed:
        text = f"{confirmed['ratio']:.2g}x ({confirmed['low']:.2g}-{confirmed['high']:.2g})"
        text += "" if confirmed.get("certain") else " ?"
        return text + (" moved" if confirmed.get("moved") else "")
    text = f"~{base.latency_ms_p50 / record.latency_ms_p50:.2g}x"
    steady = (record.timing or {}).get("stable", True) and (base.timing or {}).get("stable", True)
    return text if steady else text + " unsteady"


def accuracy_cell(record: Record, base: Record | None) -> str:
    """'+0.4 (-0.6..+1.4)' points vs the baseline on the same images; 'noise' when the
    interval includes 0."""
    from cnnopt.search.select import accuracy_difference

    if base is None or record is base or record.status != "ok" or record.accuracy is None:
        return "-"
    diff = accuracy_difference(record, base)
    delta = (record.accuracy - (base.accuracy or 0.0)) * 100
    if diff is None:
        return f"{delta:+.1f}"
    noise = "" if diff.significant else " noise"
    return f"{delta:+.1f} ({diff.low * 100:+.1f}..{diff.high * 100:+.1f}){noise}"


def measurement_note(results: dict[str, Any]) -> str:
    """How sure the numbers are: images behind each accuracy, unsteady timings, the load."""
    records, base = record_list(results)
    ok = [r for r in records if r.status == "ok"]
    parts = []
    if base is not None and base.accuracy_images:
        parts.append(
            f"Validation accuracy of every candidate comes from the same {base.accuracy_images} "
            "images; 'noise' marks a difference from the baseline whose paired 95% interval "
            "includes 0"
        )
    retimed = sum(1 for r in ok if (r.timing or {}).get("retimed"))
    unsteady = sum(1 for r in ok if not (r.timing or {}).get("stable", True))
    confirmed = sum(1 for r in ok if "ratio" in (r.extra.get("speedup") or {}))
    if retimed or unsteady:
        parts.append(
            f"{retimed} timing(s) were taken again because their blocks of runs disagreed; "
            f"{unsteady} stayed unsteady (marked 'unsteady')"
        )
    if confirmed:
        parts.append(
            f"{confirmed} front candidate(s) were re-timed turn about with the baseline: their "
            "speed-up shows its 95% interval, '?' where it includes 1x, 'moved' where it "
            "differs from the search-time ratio by more than 25%; '~' marks search-time ratios"
        )
    loads = [
        (r.timing or {}).get("state", {}).get("before", {}).get("load_1m") for r in ok if r.timing
    ]
    loads = [x for x in loads if isinstance(x, int | float)]
    if loads:
        parts.append(f"load average while timing: {min(loads):.2f} to {max(loads):.2f}")
    return ". ".join(parts) + ("." if parts else "")


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
    from cnnopt.search.results import chance_line, summary_line

    records = results.get("records", [])
    lines = [
        f"# cnnopt optimize: {results.get('model', '')} on {results.get('dataset', '')}",
        "",
        f"**{summary_line(results)}**",
        "",
        *([f"**{chance_line(results)}**", ""] if chance_line(results) else []),
        f"Rule: {(results.get('recommended') or {}).get('reason', '')}.",
        "",
        *([f"Time: {budget_line(results)}.", ""] if budget_line(results) else []),
        *([output_line(results), ""] if output_line(results) else []),
        "| trial | candidate | val acc | vs baseline (pt, 95%) | test acc | robust acc (attack) "
        "| p50 ms | speed-up | size MB | front |",
        "|---:|---|---:|---|---:|---|---:|---|---:|:-:|",
    ]
    typed, base = record_list(results)
    for r, rec in zip(records, typed, strict=True):
        extra = r.get("extra") or {}
        size = r.get("file_size_bytes")
        front = "*" if extra.get("pareto") else ""
        name = r.get("name") or f"failed: {r.get('error', '')}"
        lines.append(
            f"| {extra.get('trial', '')} | {name} | {_cell(r.get('accuracy'), '.2%')} | "
            f"{accuracy_cell(rec, base)} | {_cell(extra.get('test_accuracy'), '.2%')} | "
            f"{robustness_cell(r.get('robustness'))} | "
            f"{_cell(r.get('latency_ms_p50'), '.3g')} | {speedup_cell(rec, base)} "
            f"| {_cell(size / 1e6 if size else None, '.2f')} | {front} |"
        )
    lines += ["", measurement_note(results), "", robustness_note(results), ""]
    lines += [f"Knee rule: {results.get('knee_method', '')}.", ""]
    return "\n".join(lines)
