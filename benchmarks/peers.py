"""cnnopt against its peers on one trained ResNet-18 (Fashion-MNIST), side by side.

Rows: (a) PyTorch eager fp32, (b) ONNX Runtime fp32, (c) ONNX Runtime int8 PTQ, (d) OpenVINO
with its own default precision, (e) OpenVINO int8 PTQ, (f) Torch-Pruning 50% + fine-tune in
eager, and (g) cnnopt's best recipe (prune + distill + BN fold + int8 PTQ) on ONNX Runtime and
OpenVINO. Accuracy is measured on the official test split through each runtime; latency p50/p90
at every batch size with the same pinned thread count. Target: (g) >= 2x faster than the best
of (a)-(f) at every batch size, losing <= 0.5 test-accuracy points against (a).

Two phases, so the slow part need not run on a quiet machine:

    python benchmarks/peers.py --phase prepare --checkpoint runs/peers/resnet18-fmnist
    python benchmarks/peers.py --phase measure --threads 2 --max-seconds 10
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # peers_lib, peers_measure beside this file

from peers_lib import best_recipe, load_data, prepare
from peers_measure import measure

from cnnopt.bench import machine_info
from cnnopt.bench.table import human_bytes, human_count, machine_line
from cnnopt.errors import CnnoptError
from cnnopt.fileio import write_json, write_text

RESULTS = Path(__file__).parent / "results"


def render_markdown(result: dict[str, Any]) -> str:
    """The table a reader wants: one row per candidate, p50 (p90) per batch size."""
    batches = [str(b) for b in result["batch_sizes"]]
    summary = result["summary"]
    head = ["row", "runtime", "precision", "test acc %"]
    head += [f"b{b} p50 (p90) ms" for b in batches] + [f"b{b} img/s" for b in batches]
    head += ["params", "MACs", "file"]
    lines = [
        f"# cnnopt vs peers: {result['model']} on {result['dataset']}",
        "",
        f"Machine: {_plain(machine_line(result['machine']))}; {result['threads']} threads "
        f"for every runtime; load average before/after: {_load(result['load_average_before'])} / "
        f"{_load(result['load_average_after'])}. Test images: {result['test_images']}. "
        f"OpenVINO's default precision on this CPU: {result['openvino_default_precision']}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in result["rows"]:
        marker = " **(g)**" if row["key"] == summary["g"] else ""
        cells = [f"({row['key']}) {row['name']}{marker}", row["runtime"], row["precision"]]
        cells.append(f"{row['accuracy'] * 100:.2f}")
        lat = row["latency"]
        cells += [f"{lat[b]['p50_ms']:.3f} ({lat[b]['p90_ms']:.3f})" for b in batches]
        cells += [f"{lat[b]['throughput']:.0f}" for b in batches]
        cells += [
            human_count(row["params"]),
            human_count(row["macs"]),
            human_bytes(row["file_bytes"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    gains = ", ".join(
        f"batch {b}: {summary['speedup_vs_best_peer'][b]:.2f}x over ({summary['best_peer'][b]})"
        for b in batches
    )
    verdict = "MET" if summary["target_met"] else "NOT met"
    lines += [
        "",
        f"(g) = {summary['g']}: {gains}; accuracy {summary['accuracy_delta_points']:+.2f} points "
        f"vs (a). Target (>= 2x at every batch size, >= -0.5 points): **{verdict}**.",
        "",
        f"Serving each batch size on its fastest runtime instead: {_per_batch(summary, batches)}.",
        "",
        "(g) recipe:",
        "",
        "```yaml",
        _recipe_yaml(result["g_recipe"]).rstrip(),
        "```",
        "",
        "Latency is the median (p90 in brackets) of many timed calls after warm-up; on a shared "
        "machine (see load average) the numbers are noisy.",
    ]
    return "\n".join(lines) + "\n"


def _per_batch(summary: dict[str, Any], batches: list[str]) -> str:
    chosen = summary["g_per_batch_size"]
    gains = ", ".join(
        f"batch {b}: {chosen['runtime'][b]} {chosen['speedup_vs_best_peer'][b]:.2f}x"
        for b in batches
    )
    return f"{gains}; accuracy {chosen['accuracy_delta_points']:+.2f} points"


def _plain(text: str) -> str:
    """machine_line is written for rich; markdown wants the words without [dim] tags."""
    return re.sub(r"\[/?[a-z ]+\]", "", text)


def _load(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _recipe_yaml(recipe: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(recipe, sort_keys=False)


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,32, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return sizes


def _fast_precision() -> str:
    flags = machine_info()["cpu_flags"]
    return "bf16" if flags.get("avx512_bf16") or flags.get("amx_bf16") else "fp32"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=("prepare", "measure", "all"), default="all")
    parser.add_argument("--checkpoint", default="runs/peers/resnet18-fmnist",
                        help="trained `cnnopt train` checkpoint directory")  # fmt: skip
    parser.add_argument("--cache", default="runs/peers/cache", help="prepared candidates")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 32])
    parser.add_argument("--finetune-epochs", type=float, default=2.0,
                        help="fine-tuning epochs for (f) and for (g)'s distillation")  # fmt: skip
    parser.add_argument("--finetune-precision", choices=("fp32", "bf16"), default=None,
                        help="default: bf16 (autocast + channels-last) on a CPU with "
                        "avx512_bf16 or AMX, else fp32")  # fmt: skip
    parser.add_argument("--g-ratio", type=float, default=0.6, help="(g)'s pruning ratio")
    parser.add_argument("--g-calibration", default="percentile",
                        choices=("minmax", "percentile", "entropy"))  # fmt: skip
    parser.add_argument("--max-seconds", type=float, default=5.0,
                        help="timed seconds per latency measurement")  # fmt: skip
    parser.add_argument("--test-limit", type=int, default=None, help="default: all 10k")
    parser.add_argument("--train-limit", type=int, default=None, help="for quick development")
    parser.add_argument("--force", action="store_true", help="rebuild cached candidates")
    parser.add_argument("--out", default=str(RESULTS / "peers.json"))
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run the chosen phases; returns the measured result (None for prepare only)."""
    if args.threads < 1:
        raise CnnoptError(f"--threads must be >= 1, got {args.threads}", "e.g. --threads 2")
    if not Path(args.checkpoint).exists():
        raise CnnoptError(
            f"checkpoint {args.checkpoint} does not exist",
            "train one with `cnnopt train` or pass --checkpoint DIR",
        )
    data = load_data(args.dataset, args.test_limit, args.train_limit)
    progress = not args.no_progress
    if args.phase in ("prepare", "all"):
        started = time.perf_counter()
        recipe = best_recipe(args.finetune_epochs, args.g_ratio, args.g_calibration)
        info = prepare(
            args.checkpoint,
            args.cache,
            data,
            f_epochs=args.finetune_epochs,
            g_recipe=recipe,
            force=args.force,
            progress=progress,
            finetune_precision=args.finetune_precision or _fast_precision(),
        )
        print(f"prepared {info['cache']} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for note in info["notes"]:
            print(f"  note: {note}", file=sys.stderr)
    if args.phase == "prepare":
        return None
    result = measure(
        args.checkpoint,
        args.cache,
        data.test,
        threads=args.threads,
        batch_sizes=args.batch_sizes,
        max_seconds=args.max_seconds,
        progress=progress,
    )
    out = Path(args.out)
    write_json(out, result)
    write_text(out.with_suffix(".md"), render_markdown(result))
    write_text(out.with_name(out.stem + "_best_recipe.yaml"), _recipe_yaml(result["g_recipe"]))
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        result = run(parse_args(argv))
    except CnnoptError as exc:
        print(f"error: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""))
        return 2
    if result is not None:
        print(render_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
