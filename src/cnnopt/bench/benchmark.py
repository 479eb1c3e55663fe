"""`benchmark()`: latency, throughput, size, MACs, memory and an op profile in one call.

One Record per batch size, so bench JSON lines up with eval and search records in the report.
Static counts (params, MACs, bytes) come from the PyTorch model whatever runtime runs it,
because a runtime's artifact has the same arithmetic; latency and memory come from the
runtime itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnnopt.bench.counts import count_macs, count_params, serialized_size
from cnnopt.bench.forward import check_input_channels, checked_forward
from cnnopt.bench.latency import measure_latency, torch_threads
from cnnopt.bench.machine import machine_info
from cnnopt.bench.memory import peak_memory
from cnnopt.bench.profile import OpTime, profile_ops
from cnnopt.bench.progress import progress_bar
from cnnopt.errors import CnnoptError
from cnnopt.record import Record


@dataclass
class BenchResult:
    records: list[Record]  # one per batch size, in the order asked for
    input_shape: tuple[int, int, int]
    machine: dict[str, Any]
    profile: list[OpTime] = field(default_factory=list)  # empty for non-PyTorch runtimes
    profile_batch_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "machine": self.machine,
            "records": [r.to_dict() for r in self.records],
            "profile": [op.to_dict() for op in self.profile],
            "profile_batch_size": self.profile_batch_size,
        }


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(input_shape)
    if len(dims) != 3 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise CnnoptError(
            f"input shape must be (channels, height, width) with positive sizes, got {dims}",
            "e.g. (3, 32, 32) for CIFAR or (1, 28, 28) for MNIST",
        )
    return dims  # type: ignore[return-value]


def _check_batch_sizes(batch_sizes: Sequence[int]) -> list[int]:
    sizes = list(batch_sizes)
    if not sizes or not all(isinstance(b, int) and b > 0 for b in sizes):
        raise CnnoptError(
            f"batch sizes must be positive whole numbers, got {sizes}", "e.g. --batch-sizes 1,32"
        )
    return sizes


def _static_counts(model: nn.Module | None, shape: tuple[int, int, int]) -> dict[str, Any]:
    if model is None:
        return {"params": None, "macs": None}
    try:
        macs: int | None = count_macs(model, torch.zeros(1, *shape))
    except CnnoptError:
        raise
    except Exception:  # an op the counter cannot trace: report no MACs, keep measuring
        macs = None
    return {"params": count_params(model), "macs": macs}


def _runner(
    source: Any, runtime: str, example: torch.Tensor, threads: int | None, precision: str
) -> Callable[[torch.Tensor], Any]:
    """What gets timed: the module itself for eager fp32, else a predictor for this batch
    (eager too at another precision, so bf16 is really measured and a typo is refused)."""
    if not isinstance(source, nn.Module) or (runtime == "eager" and precision == "fp32"):
        return source
    from cnnopt.runtimes.base import build_predictor

    return build_predictor(runtime, source, example, threads=threads, precision=precision)


def benchmark(
    model_or_predictor: nn.Module | Callable[[torch.Tensor], Any],
    input_shape: Sequence[int],
    batch_sizes: Sequence[int] = (1, 32),
    threads: int | None = None,
    warmup: int = 5,
    min_runs: int = 10,
    max_runs: int = 10_000,
    max_seconds: float = 2.0,
    profile_top: int = 10,
    runtime: str = "eager",
    precision: str = "fp32",
    measure_memory: bool = True,
    name: str = "",
    progress: bool = False,
) -> BenchResult:
    """Measure a model (or any batch -> logits callable) at each batch size.

    An nn.Module with `runtime` other than "eager" is turned into a predictor for that runtime
    (one per batch size, with `threads` and `precision` passed on). `threads` also pins torch's
    thread count during the measurement and is restored afterwards. MACs are per image.
    """
    shape = _check_shape(input_shape)
    sizes = _check_batch_sizes(batch_sizes)
    source = model_or_predictor
    module = source if isinstance(source, nn.Module) else getattr(source, "model", None)
    module = module if isinstance(module, nn.Module) else None
    if not isinstance(source, nn.Module):
        runtime = getattr(source, "runtime", "") or "callable"
        precision = getattr(source, "precision", precision) or precision
        threads = threads if threads is not None else getattr(source, "threads", None)
    check_input_channels(module, shape)
    label = name or _model_label(source)
    was_training = isinstance(source, nn.Module) and source.training
    result = BenchResult(records=[], input_shape=shape, machine={})
    try:
        if isinstance(source, nn.Module):
            source.eval()
        with torch_threads(threads), progress_bar(progress, len(sizes), "benchmarking") as advance:
            result.machine = machine_info()
            counts = _static_counts(module, shape)
            for batch_size in sizes:
                example = _example(batch_size, shape)
                fn = _runner(source, runtime, example, threads, precision)
                checked_forward(fn, example)
                stats = measure_latency(fn, example, warmup, min_runs, max_runs, max_seconds)
                memory = peak_memory(fn, example) if measure_memory else None
                record = Record(
                    name=f"{label} {runtime} bs={batch_size}",
                    model=label,
                    runtime=runtime,
                    precision=precision,
                    batch_size=batch_size,
                    threads=torch.get_num_threads() if runtime == "eager" else threads,
                    latency_ms_p50=stats.p50_ms,
                    latency_ms_p90=stats.p90_ms,
                    latency_ms_p99=stats.p99_ms,
                    throughput=stats.throughput,
                    file_size_bytes=serialized_size(fn) or serialized_size(module),
                    peak_memory_bytes=memory.peak_bytes if memory else None,
                    machine=result.machine,
                    extra={
                        "input_shape": list(shape),
                        "latency": stats.to_dict(),
                        "peak_memory_method": memory.method if memory else None,
                    },
                    **counts,
                )
                result.records.append(record)
                advance(f"batch {batch_size}: p50 {stats.p50_ms:.3f} ms")
            if isinstance(source, nn.Module) and runtime == "eager" and profile_top > 0:
                result.profile = profile_ops(source, _example(sizes[0], shape), top=profile_top)
                result.profile_batch_size = sizes[0]
    finally:
        if isinstance(source, nn.Module):
            source.train(was_training)
    return result


def _example(batch_size: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """Seeded random input: latency does not depend on values, but parity checks might."""
    return torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(0))


def _model_label(source: Any) -> str:
    spec = getattr(source, "cnnopt_spec", None)
    if isinstance(spec, dict) and spec.get("name"):
        return str(spec["name"])
    return type(source).__name__
