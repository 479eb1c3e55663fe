"""After the search: test accuracy for the front, details of the recommended model, `best/`.

Test accuracy is measured only here and only for front candidates, so the test split never
influences which candidate is chosen.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from cnnopt.fileio import atomic_path, ensure_dir, write_json, write_text
from cnnopt.record import Record
from cnnopt.search.best_readme import readme
from cnnopt.search.evaluate_candidate import CandidateEvaluator
from cnnopt.search.space import CandidateSpec


def spec_of(record: Record) -> CandidateSpec:
    return CandidateSpec.from_dict(record.extra.get("spec") or {})


def add_test_accuracy(
    evaluator: CandidateEvaluator, records: list[Record], front: list[int], test_data: Any
) -> None:
    for i in front:
        try:
            built = evaluator.build(spec_of(records[i]))
            records[i].extra["test_accuracy"] = evaluator.accuracy(built.predictor, test_data)
        except Exception as exc:  # report what we have; the error goes next to the number
            records[i].extra["test_error"] = f"{type(exc).__name__}: {exc}"


def recommended_details(
    evaluator: CandidateEvaluator, record: Record, data: Any, out_dir: Path, yaml_text: str
) -> dict[str, Any]:
    """Confusion matrix, per-class metrics and per-layer latency of the recommended model,
    plus the deployable files in out_dir/best."""
    details: dict[str, Any] = {"split": data.name or "test"}
    built = evaluator.build(spec_of(record))
    try:
        from cnnopt.evaluation import evaluate

        result = evaluate(built.predictor, data, batch_size=evaluator.target.eval_batch_size)
        details["confusion_matrix"] = _tolist(result.confusion)
        details["per_class"] = result.per_class
        details["classes"] = list(data.classes)
    except Exception as exc:
        details["evaluate_error"] = f"{type(exc).__name__}: {exc}"
    details["per_layer"] = per_layer_latency(built.model, evaluator.example)
    details["export"] = export_best(built, record, out_dir / "best", evaluator, yaml_text)
    return details


def _tolist(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def per_layer_latency(model: Any, example: Any, runs: int = 10) -> list[dict[str, Any]]:
    """Wall time per leaf module (forward hooks), mean of `runs` passes after one warm-up.

    Rows {layer, type, ms, percent}, slowest first. Hooks add a little overhead per layer, so
    this ranks layers; the candidate's latency comes from the benchmark, not from this sum.
    """
    import torch

    leaves = [(n, m) for n, m in model.named_modules() if n and not any(m.children())]
    totals = {name: 0.0 for name, _ in leaves}
    starts: dict[str, float] = {}
    handles = []
    for name, module in leaves:
        handles.append(module.register_forward_pre_hook(_start_hook(starts, name)))
        handles.append(module.register_forward_hook(_stop_hook(starts, totals, name)))
    try:
        with torch.no_grad():
            model(example)
            totals.update(dict.fromkeys(totals, 0.0))  # the hooks hold this very dict
            for _ in range(runs):
                model(example)
    except Exception as exc:  # e.g. a runtime-only model: no per-layer view
        return [{"layer": "error", "type": type(exc).__name__, "ms": 0.0, "percent": 0.0}]
    finally:
        for handle in handles:
            handle.remove()
    overall = sum(totals.values()) or 1.0
    types = dict(leaves)
    rows = [
        {
            "layer": name,
            "type": type(types[name]).__name__,
            "ms": ms / runs * 1000.0,
            "percent": 100.0 * ms / overall,
        }
        for name, ms in totals.items()
    ]
    return sorted(rows, key=lambda r: -r["ms"])[:40]


def _start_hook(starts: dict[str, float], name: str) -> Any:
    import time

    def hook(_module: Any, _inputs: Any) -> None:
        starts[name] = time.perf_counter()

    return hook


def _stop_hook(starts: dict[str, float], totals: dict[str, float], name: str) -> Any:
    import time

    def hook(_module: Any, _inputs: Any, _output: Any) -> None:
        totals[name] = totals.get(name, 0.0) + time.perf_counter() - starts.get(name, 0.0)

    return hook


def export_best(
    built: Any, record: Record, best_dir: Path, evaluator: CandidateEvaluator, yaml_text: str
) -> dict[str, Any]:
    """best/: the runtime's artifact, weights.safetensors, recipe.yaml and a README."""
    best_dir = ensure_dir(best_dir)
    info: dict[str, Any] = {"dir": str(best_dir)}
    try:
        from cnnopt.runtimes.export import export_artifacts

        info["files"] = _tolist(
            export_artifacts(
                built.model, best_dir, evaluator.example, recipe=yaml_text, runtime=record.runtime
            )
        )
    except Exception as exc:
        info["export_note"] = f"export_artifacts: {type(exc).__name__}: {exc}; wrote files directly"
    try:  # a checkpoint that `cnnopt.recipe.load_applied("best")` reloads, pruned or not
        from cnnopt.recipe import Recipe, save_applied

        # The full recipe (steps + lowering target): the float checkpoint beside the artifact
        # must not overwrite it with a quantize-less one.
        recipe = Recipe.from_yaml(yaml_text)
        model = built.structured or built.model
        # The input shape too, so `cnnopt bench/export/prune --model best` need no --input.
        shape = {"input_shape": list(evaluator.val_data.input_shape)}
        save_applied(best_dir, model, recipe, shape, example_input=evaluator.example)
        _save_base(evaluator.base_model, best_dir.parent / "baseline", shape)
    except Exception as exc:
        info["checkpoint_note"] = f"save_applied: {type(exc).__name__}: {exc}"
    checkpoint_weights = best_dir / "model.safetensors"  # the name save_checkpoint uses
    if checkpoint_weights.exists() and not (best_dir / "weights.safetensors").exists():
        try:  # the documented name too, without a second copy of the bytes
            os.link(checkpoint_weights, best_dir / "weights.safetensors")
        except OSError:
            _atomic_copy(checkpoint_weights, best_dir / "weights.safetensors")
    if not (best_dir / "weights.safetensors").exists():
        from safetensors.torch import save_file

        model = built.structured or built.model
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        with atomic_path(best_dir / "weights.safetensors") as tmp:
            save_file(state, str(tmp))
    artifact = getattr(built.predictor, "artifact_path", None)
    if artifact and Path(artifact).exists() and not (best_dir / Path(artifact).name).exists():
        for path in Path(artifact).parent.glob(Path(artifact).stem + ".*"):
            _atomic_copy(path, best_dir / path.name)
    if not (best_dir / "recipe.yaml").exists():
        write_text(best_dir / "recipe.yaml", yaml_text)
    artifact_name = Path(artifact).name if artifact else None
    if artifact_name and not (best_dir / artifact_name).exists():
        artifact_name = None
    has_baseline = (best_dir.parent / "baseline" / "state.json").is_file()
    text = readme(
        record, artifact_name, evaluator.val_data, evaluator.target.batch_size, has_baseline
    )
    write_text(best_dir / "README.md", text)
    write_json(best_dir / "record.json", record.to_dict())
    info["files"] = sorted(p.name for p in best_dir.iterdir() if not p.name.startswith("."))
    return info


def _save_base(model: Any, directory: Path, state: dict[str, Any]) -> None:
    """The trained baseline as a checkpoint, the `--model` that best/recipe.yaml re-applies
    to (only for models a spec rebuilds: zoo names and file.py:factory)."""
    from cnnopt.serialize import save_checkpoint

    if isinstance(getattr(model, "cnnopt_spec", None), dict):
        state = {"note": "baseline of cnnopt optimize", **state}
        save_checkpoint(directory, model, state=state)


def _atomic_copy(source: Path, target: Path) -> None:
    """shutil.copy2 through a temporary file, so a kill mid-copy leaves no half artifact."""
    with atomic_path(target) as tmp:
        shutil.copy2(source, tmp)
