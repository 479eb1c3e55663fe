"""The Pareto front of a short `cnnopt optimize` on users' own architectures, as a table.

Runs `cnnopt optimize` (as its own process, so `PYTHONPATH=<other checkout>/src` measures
another version of cnnopt with the same script) on architectures from tests/user_archs.py and
writes, per model, the front: each candidate's validation accuracy (with its 95% interval and
the paired difference from the baseline, where the version records them), its search-time
latency and its speed-up (re-timed beside the baseline, with its interval, where the version
does that), plus the closing line. Run it alone on a quiet machine.

    python benchmarks/user_fronts.py --label after --out runs/user_fronts
    PYTHONPATH=/path/to/old/src python benchmarks/user_fronts.py --label before ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ROOT / "tests" / "user_archs.py"
MODELS = ("dense_se_two_heads", "functional_convs", "convnext_layerscale")
ARGS = ["--dataset", "digits", "--trials", "8", "--time-budget", "150", "--baseline-epochs",
        "2", "--no-robustness", "--no-progress", "--threads", "1"]  # fmt: skip


def run(model: str, out: Path) -> dict:
    argv = [sys.executable, "-m", "cnnopt.cli", "optimize", "--model", f"{ARCHS}:{model}",
            *ARGS, "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - started
    closing = [line for line in proc.stdout.splitlines() if line.startswith("recommended")]
    results = json.loads((out / "results.json").read_text()) if proc.returncode == 0 else {}
    return {"model": model, "rc": proc.returncode, "seconds": round(seconds, 1),
            "closing": closing[-1] if closing else proc.stderr.strip()[-300:],
            "front": front_rows(results)}  # fmt: skip


def front_rows(results: dict) -> list[dict]:
    records, base_index = results.get("records", []), results.get("baseline")
    base = records[base_index] if base_index is not None else None
    rows = []
    for i in results.get("front", []):
        r = records[i]
        speed = (r.get("extra") or {}).get("speedup") or {}
        search = base["latency_ms_p50"] / r["latency_ms_p50"] if base else None
        rows.append({
            "name": r["name"], "accuracy": r["accuracy"], "images": r.get("accuracy_images"),
            "accuracy_ci": r.get("accuracy_ci"), "latency_ms_p50": r["latency_ms_p50"],
            "search_speedup": search, "speedup": speed.get("ratio"),
            "speedup_interval": [speed.get("low"), speed.get("high")] if speed else None,
            "certain": speed.get("certain"), "moved": speed.get("moved"),
            "recommended": i == (results.get("recommended") or {}).get("index"),
        })  # fmt: skip
    return rows


def markdown(label: str, runs: list[dict]) -> str:
    lines = [f"## {label}", ""]
    for item in runs:
        lines += [f"### {item['model']} ({item['seconds']} s, rc {item['rc']})", "",
                  f"`{item['closing']}`", "",
                  "| candidate | val acc (95%) | p50 ms | speed-up (search) | speed-up re-timed "
                  "(95%) |", "|---|---|---:|---:|---|"]  # fmt: skip
        for row in item["front"]:
            ci = row["accuracy_ci"]
            acc = f"{row['accuracy']:.1%}" + (f" ({ci[0]:.1%}-{ci[1]:.1%})" if ci else "")
            timed = "-"
            if row["speedup"] is not None:
                low, high = row["speedup_interval"]
                timed = f"{row['speedup']:.2f}x ({low:.2f}-{high:.2f})"
                timed += "" if row["certain"] else " not certain"
                timed += " moved" if row["moved"] else ""
            mark = " **(recommended)**" if row["recommended"] else ""
            search = f"{row['search_speedup']:.2f}x" if row["search_speedup"] else "-"
            lines.append(f"| {row['name']}{mark} | {acc} | {row['latency_ms_p50']:.3g} "
                         f"| {search} | {timed} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="e.g. before / after")
    parser.add_argument("--out", default="runs/user_fronts")
    parser.add_argument("--only", default=",".join(MODELS))
    args = parser.parse_args()
    out = Path(args.out) / args.label
    runs = [run(model, out / model) for model in args.only.split(",")]
    from cnnopt.bench.machine import machine_info

    report = {"label": args.label, "args": ARGS, "machine": machine_info(), "runs": runs}
    (out / "fronts.json").write_text(json.dumps(report, indent=2))
    (out / "fronts.md").write_text(markdown(args.label, runs))
    print(markdown(args.label, runs))


if __name__ == "__main__":
    main()
