"""The one result record every measuring command writes and the report reads.

Everything that measures a model (bench, eval, each search candidate) fills a `Record`, so JSON
files from different commands line up in one table and the report never re-measures anything.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    name: str = ""  # human label, e.g. "resnet18 pruned 50% + int8 on openvino"
    model: str = ""
    recipe: list[dict[str, Any]] = field(default_factory=list)  # TransformConfig.to_dict()s
    runtime: str = "eager"
    precision: str = "fp32"
    device: str = "cpu"
    batch_size: int = 1
    threads: int | None = None
    # quality (fractions in 0..1), measured through the runtime itself
    accuracy: float | None = None
    accuracy_images: int | None = None  # how many images the accuracy comes from
    accuracy_ci: list[float] | None = None  # its 95% Wilson interval [low, high]
    top5: float | None = None
    per_class: dict[str, dict[str, float]] | None = None  # class -> precision/recall/f1
    split: str = "val"
    # speed
    latency_ms_p50: float | None = None
    latency_ms_p90: float | None = None
    latency_ms_p99: float | None = None
    throughput: float | None = None  # images per second
    # how the latency was taken: block medians, spread, stable, re-timings, load and clock
    timing: dict[str, Any] | None = None
    # size and cost
    params: int | None = None
    macs: int | None = None
    file_size_bytes: int | None = None
    peak_memory_bytes: int | None = None
    # robustness: clean/fgsm/pgd accuracy and how they were attacked (white-box or transfer)
    robustness: dict[str, Any] | None = None
    machine: dict[str, Any] | None = None
    status: str = "ok"  # "ok" or "failed"
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
