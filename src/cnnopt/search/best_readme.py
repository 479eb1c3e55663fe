"""best/README.md: what the recommended model is, and commands that work as printed.

Every command and snippet is filled in from the run itself (input shape, runtime, precision,
threads, the dataset with the size and folder it was loaded with, the artifact's file name),
and written for a user standing in the run's folder (the `--out` of `cnnopt optimize`, which
holds best/). `tests/search/test_best_readme.py` executes each of them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from cnnopt.record import Record


def data_flags(data: Any) -> str:
    """`--dataset NAME [--image-size HxW] [--data-dir DIR]`: the data exactly as loaded."""
    flags = f"--dataset {data.name}"
    size = data.extra.get("image_size")
    if size:
        flags += f" --image-size {size[0]}x{size[1]}"
    source = Path(str(data.extra.get("source", "")))
    if source.is_absolute() and source.is_dir():  # not "bundled" / "generated"
        flags += f" --data-dir {shlex.quote(str(source))}"
    return flags


def readme(
    record: Record,
    artifact: str | None,
    data: Any,
    batch_size: int,
    has_baseline: bool,
) -> str:
    """The README for best/ of a run whose recommended candidate is `record`."""
    shape = "x".join(str(d) for d in data.input_shape)
    model_path = f"best/{artifact}" if artifact else "best"
    threads = f" --threads {record.threads}" if record.threads else ""
    bench = (
        f"cnnopt bench --model {model_path} --runtime {record.runtime} --precision "
        f"{record.precision} --input {shape} --batch-sizes {record.batch_size}{threads}"
    )
    acc = f"{record.accuracy * 100:.2f}%" if record.accuracy is not None else "n/a"
    served = f"`{artifact}` (what {record.runtime} loads)" if artifact else "no artifact file"
    dims = ", ".join(str(d) for d in (batch_size, *data.input_shape))
    predictor_source = f'"{model_path}"' if artifact else "model"
    threads_arg = f", threads={record.threads}" if record.threads else ""
    return f"""# {record.name}

Recommended by `cnnopt optimize`: validation accuracy {acc}, latency p50
{record.latency_ms_p50:.3g} ms at batch size {record.batch_size} on {record.runtime}
({record.precision}), for {data.name} images of {shape} (channels x height x width).

Files: {served}, `weights.safetensors` + `state.json` (the PyTorch model after the
recipe, before quantization), `recipe.yaml` (the structure steps and the lowering target,
calibration included, that produced it), `record.json` (all measurements).

Run the commands below from the run's folder, the `--out` of `cnnopt optimize` that holds
`best/`.

Measure it again, the very file in best/ in its runtime:

```
{bench}
```

{_rebuild_text(data, has_baseline)}

Load and run it in Python; inputs are images scaled to 0..1 and then normalized with the
training split's statistics, `(x - mean) / std` per channel, mean {_floats(data.mean)} and
std {_floats(data.std)}:

```python
import torch
from cnnopt.recipe import load_applied
from cnnopt.runtimes.base import build_predictor

model = load_applied("best")  # the PyTorch model, pruned/factorized structure included

example = torch.randn({dims})  # a batch of normalized {shape} images
predictor = build_predictor(
    "{record.runtime}", {predictor_source}, example, precision="{record.precision}"{threads_arg}
)
logits = predictor.predict(example)
print(tuple(logits.shape))  # ({batch_size}, {data.num_classes}): one score per class
```
"""


def _rebuild_text(data: Any, has_baseline: bool) -> str:
    if not has_baseline:
        return (
            "To rebuild the artifact, apply `best/recipe.yaml` to the model you optimized:\n"
            f"`cnnopt apply --recipe best/recipe.yaml --model YOUR_MODEL {data_flags(data)} "
            "--out rebuilt` (its trained baseline could not be saved here: no spec rebuilds "
            "its architecture)."
        )
    return f"""Rebuild the same artifact from the trained baseline (saved beside best/):

```
cnnopt apply --recipe best/recipe.yaml --model baseline {data_flags(data)} --out rebuilt
```"""


def _floats(values: Any) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"
