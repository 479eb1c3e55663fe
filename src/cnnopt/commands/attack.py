"""`cnnopt attack`: how much accuracy a model keeps under FGSM and PGD (white-box, L-infinity).

Epsilon is in pixel units (images scaled to 0..1), so `--eps 0.1` means every pixel may move by
25.5/255 whatever the dataset's normalization; see `cnnopt.robust.attacks`.
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    add_json_flag,
    console,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._data_arg import add_data_arguments, load_split
from cnnopt.commands._model_arg import (
    PICKLE_SUFFIXES,
    add_model_argument,
    load_model_from_args,
    model_label,
)
from cnnopt.commands.bench import check_output_file
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_fits_data

KNOWN_ATTACKS = ("fgsm", "pgd")


def attack_list(text: str) -> list[str]:
    """'fgsm,pgd' -> ['fgsm', 'pgd']; duplicates dropped, order kept, unknown names refused."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip().lower()
        if name not in KNOWN_ATTACKS:
            raise argparse.ArgumentTypeError(
                f"unknown attack {part.strip()!r}; choose from {', '.join(KNOWN_ATTACKS)} "
                "(comma-separated, e.g. fgsm,pgd)"
            )
        if name not in names:
            names.append(name)
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack",
        help=COMMANDS["attack"],
        description="Attack a model with FGSM and/or PGD (L-infinity, eps in pixel units on "
        "0..1 images) through its own gradients and report accuracy on clean and attacked "
        "images of a seeded subset.",
    )
    add_model_argument(p)
    add_data_arguments(p, "dataset name (see `cnnopt data list`)", required=True)
    p.add_argument(
        "--split", default="test", choices=("test", "val"), help="which split (default: test)"
    )
    p.add_argument(
        "--eps", type=float, default=0.1, help="L-inf radius in pixel units, (0, 1] (default 0.1)"
    )
    p.add_argument(
        "--attack",
        type=attack_list,
        default=list(KNOWN_ATTACKS),
        metavar="fgsm,pgd",
        help="attacks to run, comma-separated (default: fgsm,pgd)",
    )
    p.add_argument("--steps", type=positive_int, default=10, help="PGD iterations (default 10)")
    p.add_argument(
        "--step-size", type=float, help="PGD step in pixel units (default: 2.5 * eps / steps)"
    )
    p.add_argument(
        "--limit", type=positive_int, default=1000, help="attack a seeded subset of N images"
    )
    p.add_argument("--batch-size", type=positive_int, default=128, help="default: 128")
    p.add_argument("--seed", type=int, default=0, help="subset and PGD start (default: 0)")
    p.add_argument("--threads", type=positive_int, help="intra-op threads (default: torch's)")
    p.add_argument("--out", metavar="FILE.json", help="also write the result as JSON here")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cnnopt.fileio import write_json
    from cnnopt.robust import AttackConfig, evaluate_robustness

    attacks = [
        AttackConfig(kind, args.eps, steps=args.steps, step_size=args.step_size)
        for kind in args.attack
    ]
    for config in attacks:
        config.validate()  # before loading data and model: a typo costs nothing
    if args.seed < 0:
        raise CnnoptError(f"--seed must be >= 0, got {args.seed}", "e.g. --seed 0")
    check_output_file(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_split(args, args.split, args.model)
    model = load_model_from_args(args, data.num_classes, data.input_shape[0])
    use_output_argument(model, args, data.input_shape)
    check_fits_data(model, data)
    result = evaluate_robustness(
        model,
        data,
        attacks,
        limit=args.limit,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.json,
    )
    payload = {
        "model": model_label(args.model),
        "dataset": args.dataset,
        "split": args.split,
        "eps": args.eps,
        "untrained": _is_untrained(args.model),
        **result,
    }
    if args.out:
        write_json(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        _print_table(payload)
    return 0


def _is_untrained(spec: str) -> bool:
    """A zoo name or file factory gives fresh random weights: attacking them says little."""
    from pathlib import Path

    path = Path(spec)
    return not (path.is_dir() or path.suffix.lower() in (*PICKLE_SUFFIXES, ".safetensors"))


def _print_table(payload: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{payload['model']} on {payload['dataset']} {payload['split']}",
        caption=f"eps {payload['eps']:g} ({payload['eps'] * 255:.1f}/255), "
        f"{payload['samples']} images, {payload['mode']}",
    )
    table.add_column("input")
    table.add_column("accuracy", justify="right")
    table.add_column("vs clean", justify="right")
    clean = payload["clean"]
    table.add_row("clean", f"{clean:.2%}", "")
    for config in payload["attacks"]:
        accuracy = payload[config["kind"]]
        label = config["kind"].upper()
        if config["kind"] == "pgd":
            label += f" ({config['steps']} steps)"
        table.add_row(label, f"{accuracy:.2%}", f"{(accuracy - clean) * 100:+.1f} pt")
    console.print(table)
    if payload["untrained"]:
        console.print(
            f"note: {payload['model']} has random weights; pass a checkpoint from `cnnopt train`"
        )
