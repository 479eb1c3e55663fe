"""One interface for every place a model can run: eager PyTorch, torch.compile, ONNX Runtime,
OpenVINO (and CUDA variants). Benchmarks, accuracy checks and the search only see `Predictor`,
so a new runtime is one module with one registered builder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.registry import Registry


class Predictor(ABC):
    """A ready-to-call model in some runtime: float32 NCHW batch in, float32 logits out."""

    runtime: str = ""
    precision: str = "fp32"
    device: str = "cpu"
    threads: int | None = None
    artifact_path: Path | None = None  # the file this runtime loads, when there is one

    @abstractmethod
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch, as a float32 CPU tensor."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(x)

    def describe(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "precision": self.precision,
            "device": self.device,
            "threads": self.threads,
            "artifact": str(self.artifact_path) if self.artifact_path else None,
        }


# builder(model_or_path, example_input, **options) -> Predictor
Builder = Callable[..., Predictor]
RUNTIMES: Registry[Builder] = Registry("runtime")


def register_runtime(name: str) -> Callable[[Builder], Builder]:
    return RUNTIMES.register(name)


def build_predictor(
    runtime: str,
    model: nn.Module | str | Path,
    example_input: torch.Tensor,
    **options: Any,
) -> Predictor:
    """Build a predictor by runtime name, e.g. 'eager', 'onnxruntime', 'openvino'."""
    import cnnopt.runtimes  # noqa: F401  (registers the built-in runtimes)

    return RUNTIMES.get(runtime)(model, example_input, **options)
