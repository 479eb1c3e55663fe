"""`cnnopt prune`: structured channel pruning in one command, without writing a recipe.

It builds the one-step recipe `prune` and runs it exactly like `cnnopt apply`, so the output
directory (and recipe.yaml inside it) is the same as if the recipe had been written by hand.
"""

from __future__ import annotations

import argparse

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import fraction, positive_int
from cnnopt.commands.apply import add_common_arguments, run_recipe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune",
        help=COMMANDS["prune"],
        description="Prune channels with a dependency graph (residuals, concatenations, "
        "depthwise/grouped convs stay consistent), optionally in steps with fine-tuning.",
    )
    add_common_arguments(p)
    p.add_argument(
        "--ratio", type=fraction, default=0.5, help="fraction of channels to remove (default 0.5)"
    )
    p.add_argument(
        "--importance",
        choices=("l1", "l2", "bn", "taylor"),
        default="l1",
        help="channel ranking: weight magnitude, BN scale, or first-order Taylor (needs data)",
    )
    p.add_argument(
        "--global",
        dest="global_pruning",
        action="store_true",
        help="rank channels across all layers instead of the same ratio in each",
    )
    p.add_argument("--steps", type=positive_int, default=1, help="iterative pruning steps")
    p.add_argument(
        "--round-to", type=positive_int, default=8, help="keep channel counts multiples of N"
    )
    p.add_argument(
        "--ignore", nargs="*", default=[], metavar="LAYER", help="layer names to leave whole"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnopt.recipe import Recipe
    from cnnopt.transforms.prune import PruneConfig

    config = PruneConfig(
        ratio=args.ratio,
        importance=args.importance,
        global_pruning=args.global_pruning,
        steps=args.steps,
        round_to=args.round_to,
        ignore=list(args.ignore),
        finetune_epochs=args.finetune_epochs,
    )
    config.validate()
    return run_recipe(args, Recipe(steps=[config], model=args.model, dataset=args.dataset))
