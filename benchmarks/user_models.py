"""Users' own architectures through every cnnopt command, as a new user would run them.

For each architecture in tests/user_archs.py this trains one epoch on digits, then runs
prune 30% and 50%, low-rank, fuse, int8 on ONNX Runtime, ONNX export, bench on ONNX Runtime and
OpenVINO and (with --optimize) a short `cnnopt optimize`, each as its own `cnnopt` process with
a time limit. A step passes when the command exits 0 and, for steps that write a model, the
model reloads and returns outputs of the same structure and shapes as the original. A native
crash shows as a negative exit code (the signal).

    python benchmarks/user_models.py --out runs/user_models [--optimize] [--only NAME,NAME]

Writes runs/.../user_models.json and prints a pass/fail table (markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHS_FILE = ROOT / "tests" / "user_archs.py"
sys.path.insert(0, str(ROOT / "tests"))

import user_archs  # noqa: E402

DATA = ["--dataset", "digits"]
INPUT = ["--input", "1x16x16"]
RECIPES = {
    "lowrank": "steps:\n  - transform: lowrank\n    rank_ratio: 0.5\n",
    "fuse": "steps:\n  - transform: fuse\n",
}

CHECK_SNIPPET = r"""
import json, sys, torch
sys.path.insert(0, sys.argv[3])
import user_archs
from cnnopt.commands._model_arg import load_model_arg
def structure(y):
    if torch.is_tensor(y):
        return list(y.shape)
    if isinstance(y, dict):
        return {k: structure(v) for k, v in y.items()}
    return [structure(v) for v in y]
x = torch.randn(3, 1, 16, 16)
want = structure(user_archs.ARCHITECTURES[sys.argv[2]](in_channels=1, num_classes=10).eval()(x))
model = load_model_arg(sys.argv[1], 10, 1).eval()
with torch.no_grad():
    got = structure(model(x))
print(json.dumps({"want": want, "got": got}))
sys.exit(0 if want == got else 3)
"""


def steps_for(name: str, work: Path, optimize: bool) -> list[tuple[str, list[str], Path | None]]:
    """(step, cnnopt argv, model dir to check afterwards or None)."""
    factory = f"{ARCHS_FILE}:{name}"
    trained = work / "train"
    steps = [
        (
            "train",
            ["train", "--model", factory, *DATA, "--epochs", "1", "--out", str(trained)],
            trained,
        ),
        ("eval", ["eval", "--model", str(trained), *DATA, "--split", "val"], None),
    ]
    for ratio in ("0.3", "0.5"):
        out = work / f"prune{ratio}"
        steps.append(
            (
                f"prune {ratio}",
                ["prune", "--model", str(trained), "--ratio", ratio, "--out", str(out)],
                out,
            )
        )
        steps.append((f"eval pruned {ratio}", ["eval", "--model", str(out), *DATA], None))
    for label, text in RECIPES.items():
        recipe = work / f"{label}.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(text)
        out = work / label
        steps.append(
            (
                label,
                ["apply", "--model", str(trained), "--recipe", str(recipe), "--out", str(out)],
                out,
            )
        )
    steps += [
        (
            "int8 ORT",
            [
                "quantize",
                "--model",
                str(trained),
                *DATA,
                "--runtime",
                "onnxruntime",
                "--calib-size",
                "128",
                "--out",
                str(work / "int8"),
            ],
            None,
        ),
        (
            "export onnx",
            ["export", "--model", str(trained), *INPUT, "--out", str(work / "onnx")],
            None,
        ),
    ]
    for label, runtime in (("bench ORT", "onnxruntime"), ("bench OpenVINO", "openvino")):
        bench = ["bench", "--model", str(trained), *INPUT, "--runtime", runtime]
        steps.append(
            (label, [*bench, "--batch-sizes", "1", "--max-seconds", "0.3", "--no-memory"], None)
        )
    if optimize:
        steps.append(
            (
                "optimize",
                [
                    "optimize",
                    "--model",
                    factory,
                    *DATA,
                    "--trials",
                    "8",
                    "--time-budget",
                    "150",
                    "--baseline-epochs",
                    "2",
                    "--no-robustness",
                    "--no-progress",
                    "--out",
                    str(work / "optimize"),
                ],
                None,
            )
        )
    return steps


def run_step(argv: list[str], timeout: float) -> dict:
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cnnopt.cli", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return {"rc": "timeout", "seconds": timeout, "last": f"no answer in {timeout:.0f} s"}
    tail = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return {
        "rc": proc.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "last": tail[-1][:300] if tail else "",
    }


def check_outputs(model_dir: Path, name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_SNIPPET, str(model_dir), name, str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    if proc.returncode == 0:
        return {"ok": True}
    tail = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return {"ok": False, "why": tail[-1][:300] if tail else f"rc {proc.returncode}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/user_models")
    parser.add_argument("--only", help="comma list of architecture names")
    parser.add_argument("--optimize", action="store_true", help="also run a short optimize")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--steps", help="comma list of step names to run (train always runs)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    names = args.only.split(",") if args.only else list(user_archs.ARCHITECTURES)
    table: dict[str, dict[str, dict]] = {}
    for name in names:
        work = out / name
        table[name] = {}
        for step, argv, model_dir in steps_for(name, work, args.optimize):
            if args.steps and step != "train" and step not in args.steps.split(","):
                continue
            result = run_step(argv, args.timeout)
            if result["rc"] == 0 and model_dir is not None:
                check = check_outputs(model_dir, name)
                if not check["ok"]:
                    result = {**result, "rc": "outputs changed", "last": check["why"]}
            result["ok"] = result["rc"] == 0
            table[name][step] = result
            print(
                f"{name:22s} {step:16s} {'pass' if result['ok'] else 'FAIL'}",
                result["last"][:100],
                flush=True,
            )
    steps = list(next(iter(table.values())))
    summary = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "results": table,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "user_models.json").write_text(json.dumps(summary, indent=2))
    lines = ["| model | " + " | ".join(steps) + " |", "|---" * (len(steps) + 1) + "|"]
    for name, row in table.items():
        cells = ["pass" if row[s]["ok"] else f"FAIL ({row[s]['rc']})" for s in steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (out / "user_models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
