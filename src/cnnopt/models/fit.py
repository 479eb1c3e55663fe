"""Does this model fit this input and this dataset? Answered by running it, not by guessing.

Reading a model's first convolution says what it *probably* takes, and is wrong for users'
models that adapt their input (repeat a grey channel to RGB, a functional stem, a resize), so
the only trustworthy answer is one forward pass on the real input shape. The same pass gives
the number of outputs, which must equal the dataset's classes: a 5-output model on a
10-class dataset would otherwise be pruned, trained and scored silently on wrong labels.
Every command and API entry point that joins a model with data calls `check_fits_data`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError

PROBE_BATCH = 2  # two images: batch-dependent code paths (flatten, view(N, -1)) show up
_INPUT_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)


def first_conv_in_channels(model: nn.Module) -> int | None:
    """Channels the model's first convolution expects: a hint for error messages only."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Conv1d | nn.Conv3d):
            return int(module.in_channels)
    return None


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def probe(model: nn.Module, input_shape: tuple[int, ...], x: torch.Tensor | None = None) -> Any:
    """The model's output for a small batch of `input_shape` (or for `x`), in eval mode.

    The model's mode is restored afterwards and nothing is recorded for autograd; a failure
    caused by the input becomes one CnnoptError naming the shape and the model's own error.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if x is None:
        gen = torch.Generator().manual_seed(0)  # the global RNG stays untouched
        x = torch.randn(PROBE_BATCH, *input_shape, generator=gen)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return model(x.to(device))
    except CnnoptError:
        raise
    except _INPUT_ERRORS as exc:
        raise _shape_error(model, tuple(x.shape), exc) from None
    finally:
        model.train(was_training)


def _shape_error(model: nn.Module, batch: tuple[int, ...], exc: Exception) -> CnnoptError:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = lines[0][:300] if lines else type(exc).__name__
    expected = first_conv_in_channels(model)
    shape = batch[1:]
    hint = (
        "pass the input shape the model was built for (--input CxHxW), or resize the "
        "dataset's images to it with --image-size HxW"
    )
    if expected is not None and len(shape) == 3 and expected != shape[0]:
        hint = (
            f"its first convolution takes {expected}-channel input: use --input "
            f"{expected}x{shape[1]}x{shape[2]} or a dataset with {expected} channel(s)"
        )
    return CnnoptError(
        f"the model failed on an input batch of shape {shape_text(batch)}: {detail}", hint
    )


def check_runs_on(model: Any, input_shape: tuple[int, ...]) -> None:
    """Refuse plainly when an nn.Module cannot run on one image of `input_shape`."""
    if isinstance(model, nn.Module) and len(input_shape) == 3:
        probe(model, input_shape)


def check_num_outputs(outputs: int, num_classes: int, data_name: str = "") -> None:
    """The one line for a model whose class count differs from the dataset's."""
    if outputs != num_classes:
        dataset = f"dataset {data_name!r}" if data_name else "the dataset"
        raise CnnoptError(
            f"the model outputs {outputs} classes but {dataset} has {num_classes}",
            f"build the model with num_classes={num_classes} (a factory should use its "
            "num_classes argument), or use a dataset with that many classes",
        )


def check_fits_data(model: nn.Module, data: Any, output: int | str | None = None) -> None:
    """One forward pass on two real images of `data`: it must run and give one score per class.

    `output` picks the prediction of a multi-output model (default: the choice the model
    carries, see cnnopt.outputs); outputs that are not (batch, scores) are left to the stages
    that read them.
    """
    from cnnopt.outputs import select_output

    if not isinstance(model, nn.Module):
        return
    x = data.normalize(data.images[:PROBE_BATCH])
    raw = probe(model, data.input_shape, x)
    scores = select_output(raw, output if output is not None else model)
    if isinstance(scores, torch.Tensor) and scores.ndim == 2:
        check_num_outputs(int(scores.shape[1]), data.num_classes, getattr(data, "name", ""))
