"""The training loop: in-memory batches, per-step LR schedule, autocast, exact resume.

Everything that makes a run reproducible lives in three pieces of state: the weights, the
optimizer/scheduler, and two RNG states (the batch generator at the start of the current
epoch and torch's global RNG). They are checkpointed together, so an interrupted run that is
resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnopt.data.base import TensorData, split_train_val
from cnnopt.data.loader import iterate_batches, num_batches
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_fits_data
from cnnopt.outputs import select_output, set_output
from cnnopt.serialize import load_checkpoint, save_checkpoint
from cnnopt.training.config import TrainConfig
from cnnopt.training.optim import build_optimizer, build_scheduler
from cnnopt.training.progress import TrainProgress, graceful_interrupt
from cnnopt.training.tta import evaluate_accuracy

ExtraLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
BatchHook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainResult:
    model: nn.Module  # best-validation weights when a validation split was used
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: float | None = None
    wall_time_s: float = 0.0  # this call only (a resumed run does not add earlier calls)
    steps: int = 0
    # completed | early_stop | time_limit (config.time_limit_s) | deadline (train's deadline=)
    stop_reason: str = "completed"
    epochs_done: float = 0.0  # epochs trained (of config.epochs) when it stopped


def train(
    model: nn.Module,
    data: TensorData | tuple[TensorData, TensorData | None],
    config: TrainConfig | None = None,
    *,
    extra_loss: ExtraLoss | None = None,
    batch_transform: BatchHook | None = None,
    resume: bool = False,
    output: int | str | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train `model` in place and return it with its history.

    `extra_loss(model, inputs, labels, logits)` is added to the cross-entropy (distillation);
    `batch_transform(model, inputs, labels)` rewrites each training batch (adversarial
    training). With `resume=True` the run continues from `config.checkpoint_dir` (from the
    start when that holds no checkpoint yet), with the same batches, LR and RNG draws.
    `output` picks the prediction of a model returning a tuple/dict (see cnnopt.outputs);
    it is recorded on the model, so its checkpoint and later stages use the same one.
    `deadline` (a `time.time()` instant: the end of someone's time budget, shared across
    processes, unlike time_limit_s which counts from this call) stops training between
    batches like time_limit_s; at or past it no step is taken and the model comes back as given.
    """
    config = (config or TrainConfig()).validate()
    if output is not None:
        set_output(model, output)
    train_data, val_data = _split(data)
    if resume and not config.checkpoint_dir:
        raise CnnoptError("resume needs a checkpoint directory", "set checkpoint_dir (or --out)")
    device = _device(config.device)
    started = time.perf_counter()
    model.to(device)
    check_fits_data(model, train_data)  # a wrong class count would train silently
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    augment = _augment(config.augment, train_data)
    steps_per_epoch = num_batches(train_data, config.batch_size, drop_last=True)
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    epochs_shown = math.ceil(total_steps / steps_per_epoch)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    epoch_start_rng = generator.get_state()
    step, history, best_val, best_epoch, best_state = 0, [], None, None, None
    if resume and _has_checkpoint(config.checkpoint_dir):
        saved = load_checkpoint(config.checkpoint_dir, model, optimizer, scheduler)
        step, history = int(saved["step"]), list(saved.get("history", []))
        best_val, best_epoch = saved.get("best_val_acc"), saved.get("best_epoch")
        epoch_start_rng = saved["rng"]["generator"]
        torch.set_rng_state(saved["rng"]["torch"])
        if saved.get("best_weights"):
            best = load_checkpoint(config.checkpoint_dir, copy.deepcopy(model), which="best")
            best_state = _state_copy(best["model"])

    def checkpoint() -> None:
        if config.checkpoint_dir:
            state = {
                "step": step,
                "epoch": step / steps_per_epoch,
                "total_steps": total_steps,
                "history": history,
                "best_val_acc": best_val,
                "best_epoch": best_epoch,
                "finished": step >= total_steps,
                "config": config.to_dict(),
                "dataset": train_data.name,
                "input_shape": list(train_data.input_shape),  # what later commands build for
            }
            rng = {"generator": epoch_start_rng, "torch": torch.get_rng_state()}
            save_checkpoint(
                config.checkpoint_dir, model, optimizer, scheduler, state, best=best_state, rng=rng
            )

    stop_reason = "deadline" if _past(deadline) else "completed"
    model.train()
    with graceful_interrupt() as interrupt, TrainProgress(total_steps, config.progress) as bar:
        while step < total_steps and stop_reason == "completed" and not interrupt.requested:
            epoch = step // steps_per_epoch
            skip = step - epoch * steps_per_epoch
            generator.set_state(epoch_start_rng)
            batches = iterate_batches(
                train_data,
                config.batch_size,
                shuffle=True,
                augment=augment,
                generator=generator,
                drop_last=True,
                device=device,
                channels_last=config.channels_last,
            )
            loss_sum, correct, seen, epoch_time = 0.0, 0, 0, 0.0
            for index, (inputs, labels) in enumerate(batches):
                if index < skip:
                    continue  # replaying the batches done before an interruption keeps RNG exact
                tick = time.perf_counter()
                if batch_transform is not None:
                    inputs, labels = batch_transform(model, inputs, labels)
                with torch.autocast(
                    device.type, autocast_dtype, enabled=autocast_dtype is not None
                ):
                    logits = select_output(model(inputs), model)
                loss = F.cross_entropy(
                    logits.float(), labels, label_smoothing=config.label_smoothing
                )
                if extra_loss is not None:
                    loss = loss + extra_loss(model, inputs, labels, logits)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise _diverged(loss_value, step, steps_per_epoch, config)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                hard = labels if labels.ndim == 1 else labels.argmax(dim=1)
                correct += int((logits.detach().argmax(dim=1) == hard).sum())
                loss_sum += loss_value * len(labels)
                seen += len(labels)
                epoch_time += time.perf_counter() - tick
                lr = optimizer.param_groups[0]["lr"]
                bar.update(step, epoch + 1, epochs_shown, loss_sum / seen, correct / seen,
                           seen / max(epoch_time, 1e-9), lr)  # fmt: skip
                if config.time_limit_s and time.perf_counter() - started > config.time_limit_s:
                    stop_reason = "time_limit"
                elif _past(deadline):
                    stop_reason = "deadline"
                if step >= total_steps or stop_reason != "completed" or interrupt.requested:
                    break
            if step % steps_per_epoch == 0:
                epoch_start_rng = generator.get_state()  # next epoch starts from here
            epoch_done = step / steps_per_epoch
            row: dict[str, Any] = {
                "epoch": round(epoch_done, 4),
                "train_loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "val_acc": None,
                "lr": optimizer.param_groups[0]["lr"],
                "images_per_s": seen / max(epoch_time, 1e-9),
                "seconds": epoch_time,
            }
            previous = history[-1]["epoch"] if history else 0.0
            last = step >= total_steps or stop_reason != "completed"  # not on Ctrl-C: resumable
            if val_data is not None and (last or _crossed(previous, epoch_done, config.eval_every)):
                row["val_acc"] = evaluate_accuracy(
                    model, val_data, device=str(device), channels_last=config.channels_last
                )
                if best_val is None or row["val_acc"] > best_val:
                    best_val, best_epoch, best_state = (
                        row["val_acc"],
                        row["epoch"],
                        _state_copy(model),
                    )
                elif (
                    config.early_stop_patience is not None
                    and epoch_done - (best_epoch or 0) >= config.early_stop_patience
                ):
                    stop_reason = "early_stop"
            history.append(row)
            bar.log(_describe_row(row, epochs_shown))
            checkpoint()
    if interrupt.requested:
        where = (
            f"; resume with --resume from {config.checkpoint_dir}" if config.checkpoint_dir else ""
        )
        raise KeyboardInterrupt(f"training interrupted at step {step}{where}")
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(
        model=model,
        history=history,
        best_val_acc=best_val,
        best_epoch=best_epoch,
        wall_time_s=time.perf_counter() - started,
        steps=step,
        stop_reason=stop_reason,
        epochs_done=step / steps_per_epoch,
    )


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.time() >= deadline


def _split(data: Any) -> tuple[TensorData, TensorData | None]:
    if isinstance(data, TensorData):
        return split_train_val(data)
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], TensorData):
        if data[1] is not None and not isinstance(data[1], TensorData):
            raise CnnoptError("validation data must be a TensorData or None", "see load_dataset")
        return data[0], data[1]
    raise CnnoptError(
        f"cannot train on {type(data).__name__}",
        "pass a TensorData or a (train, val) tuple from cnnopt.data.load_dataset",
    )


def _device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CnnoptError(f"device {name!r} is not available", "use device='cpu'")
    return torch.device(name)


def _augment(choice: Any, data: TensorData) -> Any:
    if choice != "auto":
        return choice
    from cnnopt.data.augment import default_augment

    return default_augment(data.name)


def _has_checkpoint(directory: str | None) -> bool:
    from pathlib import Path

    return directory is not None and (Path(directory) / "state.json").is_file()


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _crossed(previous: float, now: float, every: float) -> bool:
    """True when a multiple of `every` epochs lies in (previous, now]."""
    return math.floor(now / every + 1e-9) > math.floor(previous / every + 1e-9)


def _diverged(value: float, step: int, steps_per_epoch: int, config: TrainConfig) -> CnnoptError:
    if not config.checkpoint_dir:
        kept = "nothing was saved (no checkpoint_dir)"
    elif _has_checkpoint(config.checkpoint_dir):
        kept = f"the last good checkpoint in {config.checkpoint_dir} is kept"
    else:
        kept = "no checkpoint had been saved yet"  # diverged within the first epoch
    return CnnoptError(
        f"training diverged: loss became {value} at step {step} "
        f"(epoch {step // steps_per_epoch + 1}); {kept}",
        f"lower the learning rate (now {config.lr}) or set a gradient clip (--grad-clip 5)",
    )


def _epochs_text(epochs: float) -> str:
    """7 for whole epochs, 6.25 for a time-trimmed last one (not 6.2523)."""
    return f"{epochs:.0f}" if abs(epochs - round(epochs)) < 5e-3 else f"{epochs:.2f}"


def _describe_row(row: dict[str, Any], epochs: int) -> str:
    val = f"  val {row['val_acc']:.2%}" if row["val_acc"] is not None else ""
    return (
        f"epoch {_epochs_text(row['epoch'])}/{epochs}  loss {row['train_loss']:.4f}  "
        f"train {row['train_acc']:.2%}{val}  {row['images_per_s']:,.0f} img/s  "
        f"{row['seconds']:.1f}s"
    )
