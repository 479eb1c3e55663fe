"""The bad-input catalogue as data: one command line per mistake, the file it needs, and a
fragment the one-line error must contain. docs/bad-inputs.md lists the same ids.

`{ckpt}` in an argument is replaced by a trained 1-channel lenet5 checkpoint (16x16 digits);
every other path is relative to the test's own empty working directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bad_input_files as files

Setup = Callable[[Path, Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: str  # a fragment of the error line, case-insensitive
    setup: Setup | None = None


def _case(id: str, command: str, expect: str, setup: Setup | None = None) -> Case:
    return Case(id, tuple(command.split()), expect, setup)


EVAL = "eval --json --dataset digits --model"
BENCH = "bench --json --model lenet5 --input 1x16x16 --max-seconds 0.05 --no-memory"
TRAIN = "train --json --model lenet5 --dataset digits --limit 64 --epochs 1 --threads 1"
APPLY = "apply --json --model lenet5 --out applied --recipe recipe.yaml"
MNIST = "eval --json --model lenet5 --dataset mnist --data-dir mnist"
FIVE = "user_archs.py:five_outputs"  # tests/user_archs.py: 5 outputs whatever num_classes says
FIVE_VS_TEN = "the model outputs 5 classes but dataset 'digits' has 10"

CASES: list[Case] = [
    # unknown names
    _case("unknown-model", f"{EVAL} nosuch", "unknown model 'nosuch'"),
    _case("unknown-dataset", "eval --json --model lenet5 --dataset nosuch", "unknown dataset"),
    _case("unknown-runtime", f"{BENCH} --runtime nosuch", "unknown runtime 'nosuch'"),
    _case("unknown-precision", f"{BENCH} --precision fp7", "does not support precision"),
    _case("unknown-split", f"{EVAL} lenet5 --split holdout", "invalid choice: 'holdout'"),
    _case("unknown-importance", "prune --model lenet5 --importance foo --out p", "invalid choice"),
    _case("unknown-attack", "attack --model lenet5 --dataset digits --attack cw", "unknown attack"),
    _case("unknown-command", "fly", "invalid choice: 'fly'"),
    _case("dataset-option-typo", "data info digits -o sise=28", "has no option 'sise'"),
    _case("dataset-option-value", "data info digits -o size=2", "size must be"),
    _case("dataset-option-format", "data info digits -o size", "is not KEY=VALUE"),
    # missing, truncated or corrupt data files
    _case("data-missing", f"{MNIST}", "dataset 'mnist' not found"),
    _case(
        "image-folder-missing",
        f"{EVAL} lenet5 --dataset imagefolder --data-dir nothere",
        "does not exist",
    ),
    _case("idx-bad-magic", MNIST, "magic number 0x00000801", files.idx_bad_magic),
    _case("idx-truncated", MNIST, "is truncated", files.idx_truncated),
    _case("gzip-truncated", MNIST, "truncated or corrupt gzip", files.idx_truncated_gzip),
    _case("label-count", MNIST, "20 images but", files.idx_wrong_label_count),
    _case("label-range", MNIST, "holds label 11", files.idx_label_out_of_range),
    _case(
        "image-corrupt",
        "eval --json --model lenet5 --dataset imagefolder --data-dir images",
        "cannot read image",
        files.corrupt_image,
    ),
    _case(
        "dataset-empty",
        "eval --json --model lenet5 --dataset imagefolder --data-dir images",
        "0 training and 0 test images",
        files.empty_image_folder,
    ),
    _case(
        "dataset-no-classes",
        f"{TRAIN} --dataset imagefolder --data-dir images --out t",
        "no class sub-folders",
        files.folder_without_classes,
    ),
    _case(
        "cifar-pickle-code",
        "eval --json --model lenet5 --dataset cifar10 --data-dir cifar",
        "refusing to load",
        files.cifar_code,
    ),
    _case(
        "cifar-archive-escape",
        "eval --json --model lenet5 --dataset cifar10 --data-dir cifar",
        "outside",
        files.cifar_escaping_archive,
    ),
    # checkpoints and model files
    _case("checkpoint-missing", f"{EVAL} runs/nothere", "no such checkpoint directory"),
    _case("checkpoint-no-state", f"{EVAL} ckpt", "state.json is missing", files.ckpt_without_state),
    _case(
        "checkpoint-state-truncated",
        f"{EVAL} ckpt",
        "is not valid JSON",
        files.ckpt_truncated_state,
    ),
    _case(
        "checkpoint-safetensors-corrupt",
        f"{EVAL} ckpt",
        "the file is damaged",
        files.ckpt_corrupt_safetensors,
    ),
    _case(
        "checkpoint-other-architecture",
        f"{EVAL} ckpt",
        "does not hold the weights",
        files.ckpt_other_weights,
    ),
    _case("checkpoint-path-escape", f"{EVAL} ckpt", "points outside", files.ckpt_escaping_path),
    _case(
        "resume-other-architecture",
        "train --json --model fmnist_net --dataset digits --limit 64 --out ckpt --resume",
        "checkpoint is for lenet5",
        files.copy_checkpoint,
    ),
    _case(
        "pickle-refused",
        f"{EVAL} whole.pt",
        "needs pickle, which can run code",
        files.pickled_module,
    ),
    _case("pickle-code-refused", f"{EVAL} evil.pt", "needs pickle", files.pickled_code),
    _case("state-dict-no-arch", f"{EVAL} weights.pth", "--model-arch", files.pickled_state_dict),
    _case(
        "state-dict-wrong-arch",
        f"{EVAL} weights.pth --model-arch fmnist_net",
        "do not fit --model-arch fmnist_net",
        files.pickled_state_dict,
    ),
    _case("torch-file-corrupt", f"{EVAL} weights.pt", "cannot read", files.pickled_garbage),
    _case("model-arch-misused", f"{EVAL} lenet5 --model-arch lenet5", "only applies"),
    _case("model-file-syntax", f"{EVAL} net.py:build", "syntax error", files.syntax_error_model),
    _case(
        "model-file-no-factory",
        f"{EVAL} net.py:make",
        "has no function 'make'",
        files.plain_model_file,
    ),
    _case("model-file-spec", f"{EVAL} net.py", "names no factory", files.plain_model_file),
    _case("model-file-sys-exit", f"{EVAL} net.py:build", "sys.exit()", files.exiting_factory),
    _case(
        "model-file-argparse",
        f"{EVAL} net.py:build",
        "importing 'net.py' called sys.exit(2) after printing",
        files.argparse_required_model,
    ),
    # shapes
    _case("input-string", f"{BENCH} --input 3x32", "input shape must be CxHxW"),
    _case("input-too-small", f"{BENCH} --input 1x2x2", "failed on an input batch"),
    _case("input-channels", f"{BENCH} --model {{ckpt}} --input 3x16x16", "1-channel"),
    _case("dataset-channels", "eval --json --model {ckpt} --dataset synthetic", "1-channel"),
    # a model whose class count is not the dataset's: refused wherever a model meets data
    *[
        _case(f"model-classes-{name}", f"{command} {FIVE}", FIVE_VS_TEN, files.user_archs)
        for name, command in (
            ("train", "train --json --dataset digits --limit 64 --epochs 1 --out t --model"),
            ("eval", EVAL),
            ("prune", "prune --json --dataset digits --limit 64 --out p --model"),
            ("quantize", "quantize --json --dataset digits --limit 64 --out q --model"),
            ("attack", "attack --json --dataset digits --limit 16 --model"),
            ("optimize", "optimize --json --dataset digits --no-progress --out o --model"),
        )
    ],
    _case(
        "model-classes-apply",
        f"apply --json --recipe recipe.yaml --dataset digits --limit 64 --out a --model {FIVE}",
        FIVE_VS_TEN,
        files.user_archs_and_recipe,
    ),
    _case(
        "apply-input-vs-dataset",
        f"{APPLY} --dataset digits --input 3x32x32",
        "does not match dataset 'digits', whose images are 1x16x16",
        files.recipe("steps: [{transform: fuse}]\n"),
    ),
    _case("bench-no-input", "bench --json --model lenet5", "pass --input CxHxW"),
    _case("image-size-zero", f"{TRAIN} --image-size 0 --out t", "--image-size: image size must"),
    _case("image-size-text", f"{EVAL} lenet5 --image-size big", "--image-size: image size must"),
    _case("prune-input-string", "prune --json --model lenet5 --input 3x --out p", "CxHxW"),
    _case(
        "image-size-without-dataset",
        "prune --json --model lenet5 --image-size 28 --out p",
        "--image-size resizes the images of --dataset",
    ),
    _case(
        "prune-no-shape",
        "prune --json --model user_archs.py:flat_28x28 --out p",
        "a guess: no --dataset, --input or recorded input shape",
        files.user_archs,
    ),
    _case(
        "quantize-static-no-dataset",
        "quantize --json --model lenet5 --input 1x16x16 --out q",
        "calibrates on training images, and no --dataset was given",
    ),
    _case(
        "bench-int8-float",
        f"{BENCH} --runtime onnxruntime --precision int8",
        "add --dataset NAME to quantize it on the fly",
    ),
    # out-of-range numbers
    _case("epochs-negative", f"{TRAIN} --epochs -1", "--epochs: expected a number > 0"),
    _case("epochs-text", f"{TRAIN} --epochs many", "--epochs: expected a number"),
    _case("batch-size-zero", f"{TRAIN} --batch-size 0", "--batch-size: expected a number > 0"),
    _case("threads-zero", f"{TRAIN} --threads 0", "--threads: expected a number > 0"),
    _case("lr-negative", f"{TRAIN} --lr -0.1", "--lr: expected a number > 0"),
    _case("limit-zero", f"{EVAL} lenet5 --limit 0", "--limit: expected a number > 0"),
    _case("seed-negative", f"{TRAIN} --seed -1", "--seed must be >= 0"),
    _case("batch-sizes-zero", f"{BENCH} --batch-sizes 1,0", "batch sizes must be > 0"),
    _case("warmup-negative", f"{BENCH} --warmup -1", "--warmup must be >= 0"),
    _case("prune-ratio-one", "prune --model lenet5 --ratio 1.0 --out p", "[0, 1)"),
    _case("finetune-negative", "prune --model lenet5 --finetune-epochs -1 --out p", ">= 0"),
    _case("eps-zero", "attack --model lenet5 --dataset digits --eps 0", "eps must be in (0, 1]"),
    _case("adv-eps-zero", f"{TRAIN} --adv pgd --adv-eps 0", "--adv-eps must be in (0, 1]"),
    _case("adv-eps-alone", f"{TRAIN} --adv-eps 0.1", "no effect without --adv"),
    # recipes
    _case("recipe-missing", APPLY, "recipe file recipe.yaml does not exist"),
    _case(
        "recipe-yaml-syntax",
        APPLY,
        "is not valid YAML (line 3)",
        files.recipe("steps:\n  - {transform: prune\n"),
    ),
    _case("recipe-not-utf8", APPLY, "cannot read recipe", files.recipe(b"\xff\xfe\x00")),
    _case("recipe-no-steps", APPLY, "has no 'steps' list", files.recipe("just some text\n")),
    _case("recipe-steps-not-list", APPLY, "must be a list", files.recipe("steps: fuse\n")),
    _case(
        "recipe-unknown-key", APPLY, "unknown key(s) stpes", files.recipe("stpes: []\nsteps: []\n")
    ),
    _case(
        "recipe-step-not-mapping",
        APPLY,
        "step 1 must be a mapping",
        files.recipe("steps:\n  - 42\n"),
    ),
    _case(
        "recipe-unknown-transform",
        APPLY,
        "unknown transform 'nosuch'",
        files.recipe("steps: [{transform: nosuch}]\n"),
    ),
    _case(
        "recipe-option-typo",
        APPLY,
        "has no option(s) raito",
        files.recipe("steps: [{transform: prune, raito: 0.5}]\n"),
    ),
    _case(
        "recipe-prune-ratio-one",
        APPLY,
        "prune ratio must be in [0, 1)",
        files.recipe("steps: [{transform: prune, ratio: 1.0}]\n"),
    ),
    _case(
        "recipe-rank-zero",
        APPLY,
        "rank_ratio must be in (0, 1]",
        files.recipe("steps: [{transform: lowrank, rank_ratio: 0}]\n"),
    ),
    _case(
        "recipe-unknown-importance",
        APPLY,
        "unknown importance 'foo'",
        files.recipe("steps: [{transform: prune, importance: foo}]\n"),
    ),
    _case(
        "recipe-value-type",
        APPLY,
        "recipe step 1 (prune): finetune_epochs must be a number, got '2'",
        files.recipe("steps: [{transform: prune, finetune_epochs: '2'}]\n"),
    ),
    _case(
        "recipe-target-runtime",
        APPLY,
        "recipe target: unknown runtime 'tensorrt'",
        files.recipe("steps: []\ntarget: {runtime: tensorrt}\n"),
    ),
    _case(
        "recipe-target-mode",
        APPLY,
        "precision int8 cannot be made by quantize mode 'bf16'",
        files.recipe("steps: []\ntarget: {precision: int8, quantize: {mode: bf16}}\n"),
    ),
    _case(
        "recipe-target-value-type",
        APPLY,
        "recipe target: batch_size must be a whole number, got '1'",
        files.recipe("steps: []\ntarget: {batch_size: '1'}\n"),
    ),
    _case(
        "recipe-target-no-dataset",
        APPLY,
        "calibrates on training images, and no --dataset was given",
        files.recipe("steps: []\ntarget: {runtime: onnxruntime, precision: int8}\n"),
    ),
    _case(
        "recipe-data-unknown-key",
        APPLY,
        "recipe data has unknown key(s) images",
        files.recipe("steps: []\ndata: {images: 3}\n"),
    ),
    _case(
        "recipe-newer-version",
        APPLY,
        "is newer than this cnnopt knows",
        files.recipe("steps: [{transform: fuse, version: 99}]\n"),
    ),
    # training runs and output locations
    _case("resume-nothing", f"{TRAIN} --out t --resume", "nothing to resume in t"),
    _case(
        "run-exists", f"{TRAIN} --out ckpt", "already holds a training run", files.copy_checkpoint
    ),
    _case(
        "diverged-first-epoch",
        f"{TRAIN} --limit 256 --lr 1e30 --out t",
        "no checkpoint had been saved",
    ),
    _case(
        "out-under-a-file",
        f"{TRAIN} --out afile/run",
        "cannot create output directory",
        files.out_under_a_file,
    ),
    _case("out-is-a-file", f"{TRAIN} --out afile", "is a file", files.out_under_a_file),
    _case("out-json-is-a-dir", f"{EVAL} lenet5 --out .", "is a directory"),
    _case("report-missing", "report --json nothere", "no results.json"),
    _case(
        "time-budget-too-small",
        "optimize --json --model lenet5 --dataset digits --train-subset 128 --time-budget 0.01 "
        "--no-progress --out o",
        "--time-budget 0.01 is too small: training the baseline alone needs about",
    ),
]
