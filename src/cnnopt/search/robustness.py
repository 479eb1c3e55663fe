"""Adversarial accuracy of the Pareto front: the robustness column of the optimize report.

Compression can change robustness as much as accuracy (pruned and int8 models are often more
brittle), so the front is attacked before a user picks from it. Only the front is attacked and
only on a seeded subset, which keeps the cost to seconds per candidate.

How each candidate is attacked depends on what can be differentiated:
- eager fp32: the predictor runs the float PyTorch model itself, so FGSM/PGD use its own
  gradients ("white-box");
- anything else (ONNX Runtime, OpenVINO, torch.compile, bf16, int8): the artifact has no usable
  gradients, so the adversarial images are crafted on the candidate's own float model (after
  pruning/low-rank, before quantization) and fed to the artifact ("transfer"). Transfer attacks
  are weaker, so these numbers are upper bounds; the mode is stored beside every number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.record import Record
from cnnopt.robust import AttackConfig, evaluate_robustness

WHITE_BOX_RUNTIMES = ("eager",)


@dataclass
class RobustnessSettings:
    enabled: bool = True
    eps: float = 0.1  # L-inf radius in pixel units (0..1 images); 0.1 is 25.5/255
    pgd_steps: int = 5  # PGD-5 rather than PGD-10: half the cost, nearly the same ranking
    samples: int = 256  # seeded subset of the validation split
    batch_size: int = 128

    def validate(self) -> None:
        if not 0 < self.eps <= 1:
            raise CnnoptError(
                f"robustness eps must be in (0, 1] (pixel units), got {self.eps}",
                "e.g. --robust-eps 0.1 (25.5/255) or 0.03 (8/255)",
            )
        if self.pgd_steps < 1 or self.samples < 1 or self.batch_size < 1:
            raise CnnoptError(
                "robustness PGD steps, samples and batch size must be >= 1",
                "e.g. --robust-samples 256",
            )

    def attacks(self) -> tuple[AttackConfig, ...]:
        return (AttackConfig("fgsm", self.eps), AttackConfig("pgd", self.eps, self.pgd_steps))

    def describe(self) -> str:
        return (
            f"FGSM and PGD-{self.pgd_steps} at eps {self.eps:g} (pixel units, L-inf) on up to "
            f"{self.samples} validation images"
        )


def is_white_box(runtime: str, precision: str) -> bool:
    """True when the candidate's predictor computes exactly its float PyTorch model."""
    return runtime in WHITE_BOX_RUNTIMES and precision == "fp32"


def candidate_robustness(
    built: Any,
    record: Record,
    data: Any,
    settings: RobustnessSettings,
    *,
    seed: int = 0,
    progress: bool = False,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Clean/FGSM/PGD accuracy of one built candidate (see the module doc for the mode);
    `deadline` shortens it (evaluate_robustness)."""
    float_model = built.structured if built.structured is not None else built.model
    common = {
        "attacks": settings.attacks(),
        "limit": settings.samples,
        "batch_size": settings.batch_size,
        "seed": seed,
        "progress": progress,
        "deadline": deadline,
    }
    if is_white_box(record.runtime, record.precision):
        result = evaluate_robustness(built.model, data, **common)
        result["source"] = "the candidate itself"
    else:
        result = evaluate_robustness(built.predictor, data, source=float_model, **common)
        result["source"] = "the candidate's float model (before quantization/export)"
    result["eps"] = settings.eps
    result["split"] = getattr(data, "name", "") or "val"
    return result


def add_robustness(
    build: Callable[[Record], Any],
    records: list[Record],
    front: list[int],
    data: Any,
    settings: RobustnessSettings,
    *,
    seed: int = 0,
    progress: bool = False,
    deadline: float | None = None,
) -> None:
    """Fill `record.robustness` for every front candidate; a failure is stored, not raised,
    so one candidate that cannot be attacked does not cost the user the whole report.
    `deadline` (time.time()) shortens each attack to the batches done by then."""
    if not settings.enabled:
        return
    for i in front:
        record = records[i]
        if record.status != "ok":
            continue
        try:
            record.robustness = candidate_robustness(
                build(record), record, data, settings, seed=seed, progress=progress,
                deadline=deadline,
            )  # fmt: skip
        except Exception as exc:
            mode = "white-box" if is_white_box(record.runtime, record.precision) else "transfer"
            record.robustness = {"mode": mode, "error": f"{type(exc).__name__}: {exc}"}


def settings_dict(settings: RobustnessSettings) -> dict[str, Any]:
    """What results.json keeps about how the front was attacked (for the report's note)."""
    return {**asdict(settings), "description": settings.describe()}
