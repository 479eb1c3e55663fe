"""Run an exported CNN with NumPy alone: the dependency-free path for small devices.

Reads the `graph.json` + `weights.safetensors` written by `cnnopt.kernels.export.export_numpy`
and needs only numpy and safetensors at run time (this module must never import torch; a test
checks it). Each conv layer picks its fastest algorithm (im2col, Winograd F(2x2) or F(4x4), or
FFT) the first time it sees an input shape, or uses the one forced with `algorithm=`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from cnnopt.errors import CnnoptError
from cnnopt.kernels.conv import ConvLayer, check_algorithm
from cnnopt.kernels.layers import flatten, linear, relu_
from cnnopt.kernels.pooling import adaptive_avgpool2d, avgpool2d, maxpool2d

FORMAT = "cnnopt-numpy"
SUPPORTED_VERSION = 1


class NumpyEngine:
    """A loaded NumPy model: call it with a float32 NCHW batch to get logits."""

    def __init__(
        self, graph: dict[str, Any], tensors: dict[str, np.ndarray], algorithm: str = "auto"
    ) -> None:
        if graph.get("format") != FORMAT or graph.get("version", 0) > SUPPORTED_VERSION:
            raise CnnoptError(
                f"not a {FORMAT} v{SUPPORTED_VERSION} graph (format={graph.get('format')!r}, "
                f"version={graph.get('version')!r})",
                "export the model with cnnopt.kernels.export_numpy",
            )
        self.algorithm = check_algorithm(algorithm)
        self.graph = graph
        self.input_name: str = graph["input"]
        self.output_name: str = graph["output"]
        self.nodes: list[dict[str, Any]] = graph["nodes"]
        self._tensors = tensors
        self._ops = [self._build(node) for node in self.nodes]
        # After its last use a value is dropped (and ReLU may overwrite it in place).
        last_use: dict[str, int] = {}
        for index, node in enumerate(self.nodes):
            for name in node["inputs"]:
                last_use[name] = index
        last_use[self.output_name] = len(self.nodes)
        self._last_use = last_use

    @classmethod
    def load(cls, directory: str | Path, algorithm: str = "auto") -> NumpyEngine:
        directory = Path(directory)
        graph_path, weights_path = directory / "graph.json", directory / "weights.safetensors"
        if not graph_path.is_file() or not weights_path.is_file():
            raise CnnoptError(
                f"{directory} does not hold graph.json and weights.safetensors",
                "export the model first with cnnopt.kernels.export_numpy(model, directory)",
            )
        try:
            graph = json.loads(graph_path.read_text())
            tensors = load_file(str(weights_path))
        except (ValueError, OSError) as exc:
            raise CnnoptError(
                f"cannot read the exported model in {directory}: {exc}", "export it again"
            ) from None
        return cls(graph, tensors, algorithm)

    def _weight(self, key: str | None) -> np.ndarray | None:
        if key is None:
            return None
        if key not in self._tensors:
            raise CnnoptError(f"weights.safetensors has no tensor {key!r}", "export it again")
        return self._tensors[key]

    def _build(self, node: dict[str, Any]) -> Callable[..., np.ndarray]:
        op = node["op"]
        if op == "conv2d":
            layer = ConvLayer(
                self._weight(node["weight"]),
                self._weight(node.get("bias")),
                tuple(node["stride"]),
                tuple(node["padding"]),
                tuple(node["dilation"]),
                node["groups"],
                self.algorithm,
            )
            node["_layer"] = layer
            return layer
        if op == "linear":
            weight, bias = self._weight(node["weight"]), self._weight(node.get("bias"))
            return lambda x: linear(x, weight, bias)
        if op == "affine_channel":  # a batch norm that could not be folded into a conv
            scale = self._weight(node["scale"]).reshape(1, -1, 1, 1)
            shift = self._weight(node["shift"]).reshape(1, -1, 1, 1)
            return lambda x: x * scale + shift
        if op in ("maxpool2d", "avgpool2d"):
            fn = maxpool2d if op == "maxpool2d" else avgpool2d
            args = (
                tuple(node["kernel_size"]),
                tuple(node["stride"]),
                tuple(node["padding"]),
                bool(node.get("ceil_mode", False)),
            )
            return lambda x: fn(x, *args)
        simple: dict[str, Callable[..., np.ndarray]] = {
            "relu": relu_,
            "flatten": flatten,
            "add": np.add,
            "adaptive_avgpool2d": lambda x: adaptive_avgpool2d(x, tuple(node["output_size"])),
        }
        if op not in simple:
            raise CnnoptError(
                f"graph node {node['name']!r} has op {op!r}, which this engine does not know",
                "export the model with the same cnnopt version that runs it",
            )
        return simple[op]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._run(x, None)

    predict = __call__

    def _run(self, x: np.ndarray, times: list[float] | None) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4:
            raise CnnoptError(
                f"the engine expects an N x C x H x W batch, got shape {x.shape}",
                "add a batch axis with x[None] for a single image",
            )
        values: dict[str, np.ndarray] = {self.input_name: np.ascontiguousarray(x, np.float32)}
        for index, (node, op) in enumerate(zip(self.nodes, self._ops, strict=True)):
            inputs = [values[name] for name in node["inputs"]]
            if node["op"] == "relu" and (
                node["inputs"][0] == self.input_name or self._last_use[node["inputs"][0]] > index
            ):
                inputs = [inputs[0].copy()]  # still needed later: do not overwrite in place
            start = time.perf_counter()
            values[node["name"]] = op(*inputs)
            if times is not None:
                times.append((time.perf_counter() - start) * 1e3)
            for name in node["inputs"]:
                if self._last_use.get(name) == index:
                    values.pop(name, None)
        return values[self.output_name]

    def profile(self, x: np.ndarray, repeats: int = 5) -> list[dict[str, Any]]:
        """Per-layer time (best of `repeats`, ms) and, for convs, the algorithm used."""
        self(x)  # first call chooses algorithms; not timed
        best: list[float] | None = None
        for _ in range(repeats):
            times: list[float] = []
            self._run(x, times)
            best = times if best is None else [min(a, b) for a, b in zip(best, times, strict=True)]
        rows = []
        for node, ms in zip(self.nodes, best or [], strict=True):
            layer = node.get("_layer")
            algorithm = layer.last_algorithm if layer else None
            rows.append({"name": node["name"], "op": node["op"], "ms": ms, "algorithm": algorithm})
        return rows

    def algorithm_choices(self) -> list[dict[str, Any]]:
        """For every conv: the algorithm chosen per input shape and the timings behind it."""
        out = []
        for node in self.nodes:
            layer = node.get("_layer")
            if layer is not None:
                for shape, algorithm in layer.choice.items():
                    out.append(
                        {
                            "name": node["name"],
                            "input_shape": list(shape),
                            "algorithm": algorithm,
                            "timings_ms": layer.timings.get(shape, {}),
                        }
                    )
        return out
