"""`cnnopt.optimize(...)`: baseline -> search -> Pareto front -> recommendation -> files.

The CLI's `cnnopt optimize` is a thin wrapper over this, so Python users get exactly the same
run, resume and outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from cnnopt.fileio import (
    atomic_path,
    ensure_dir,
    remove_stale_temps,
    undo_on_failure,
    write_json,
)
from cnnopt.outputs import validate_output
from cnnopt.record import Record
from cnnopt.search import study as study_mod
from cnnopt.search.baseline_training import fit_baseline
from cnnopt.search.budget import Budget
from cnnopt.search.cache import ModelCache
from cnnopt.search.deadline import RunDeadline, budget_line
from cnnopt.search.evaluate_candidate import (
    CandidateEvaluator,
    Target,
    finetune_plan,
)
from cnnopt.search.finish import finish
from cnnopt.search.isolated import IsolatedRunner, LocalRunner
from cnnopt.search.live import SearchDisplay
from cnnopt.search.results import build_results, chance_line, summary_line, write_results
from cnnopt.search.robustness import RobustnessSettings, settings_dict
from cnnopt.search.select import Constraints
from cnnopt.search.space import SearchSpace
from cnnopt.terminal import make_console


@dataclass
class Result:
    out_dir: Path
    records: list[Record]
    front: list[int]
    baseline: int | None
    recommended: dict[str, Any]
    summary: str
    results: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def best(self) -> Record | None:
        index = self.recommended.get("index")
        return self.records[index] if index is not None else None

    @property
    def budget_line(self) -> str:
        """One line on the time budget: used, overshoot, what was cut short ('' if nothing)."""
        return budget_line(self.results)

    @property
    def warning(self) -> str:
        """A baseline at chance level, in one line ('' if it learned): see chance_line."""
        return chance_line(self.results)


def optimize(
    model: nn.Module,
    train_data: Any,
    val_data: Any,
    *,
    test_data: Any = None,
    constraints: Constraints | None = None,
    budget: Budget | None = None,
    target: Target | None = None,
    space: SearchSpace | None = None,
    robustness: RobustnessSettings | None = None,
    out: str | Path = "runs/optimize",
    resume: bool = False,
    storage: str | None = None,
    sampler: str = "tpe",
    train_baseline: bool = True,
    model_name: str | None = None,
    seed: int = 0,
    progress: bool = True,
    console: Console | None = None,
    output: Any = None,
    isolate: bool = True,
) -> Result:
    """Search recipes for `model` and return the Pareto front and the recommended candidate.

    With train_baseline=True the model is trained first (cached in out/cache, so --resume
    does not train again); pass False for an already trained model. `robustness` sets how
    the front is attacked afterwards (on by default; RobustnessSettings(enabled=False) skips).
    `output` picks the prediction of a model that returns a tuple/dict (an index or a key,
    see cnnopt.outputs); by default the first tensor / the "logits" key.
    With isolate=True (the default) candidates are built and measured in a child process, so
    a runtime that crashes or hangs (budget.candidate_timeout_s) fails that candidate only.
    budget.time_budget_s bounds the whole call (cnnopt.search.deadline): what it cut short is
    in results["budget"]["cut"].
    """
    started = time.time()
    budget, target, constraints = (
        budget or Budget(),
        target or Target(),
        constraints or Constraints(),
    )
    robustness = robustness or RobustnessSettings()
    budget.validate()
    constraints.validate()
    robustness.validate()
    from cnnopt.models.fit import check_fits_data
    from cnnopt.search.baseline_training import check_budget

    check_fits_data(model, train_data)  # before the study, the --out folder and any training
    cached = (Path(out) / "cache" / "baseline.safetensors").exists()
    probe = check_budget(model, train_data, budget) if train_baseline and not cached else None
    console = console or make_console(quiet=not progress)
    out_dir = Path(out)
    # A run that fails before anything resumable exists leaves no --out folder behind.
    with undo_on_failure(out_dir, keep=lambda: _resumable(out_dir)):
        ensure_dir(out_dir)
        if resume:
            remove_stale_temps(out_dir)
        space = (space or SearchSpace()).restricted_to(
            available_runtimes(), unhonoured_precisions()
        )
        space.validate()
        model_name = model_name or type(model).__name__.lower()
        # One forward pass: a missing output is one line now, not a failure in every candidate.
        output_desc = validate_output(model, val_data.normalize(val_data.images[:2]), output)
        deadline = RunDeadline.for_budget(budget, started)

        settings = study_mod.StudySettings(
            n_trials=budget.trials,
            time_budget_s=budget.time_budget_s,
            storage=storage,
            sampler=sampler,
            seed=seed,
            minimize_size=constraints.max_size_mb is not None,
        )
        study = study_mod.open_study(settings, out_dir, resume)  # fails early on a used --out
        base, base_key, base_info = baseline(
            model, train_data, val_data, out_dir, budget, train_baseline, seed, console, probe,
            deadline,
        )  # fmt: skip
        tune_data, tune_epochs = finetune_plan(
            train_data, budget.finetune_epochs, budget.finetune_images, seed
        )
        salt = {"finetune_epochs": tune_epochs, "finetune_images": len(tune_data), "seed": seed}
        evaluator = CandidateEvaluator(
            base, model_name, train_data, val_data, ModelCache(out_dir / "cache", base_key, salt),
            target, out_dir / "cache" / "artifacts", finetune_epochs=budget.finetune_epochs,
            finetune_images=budget.finetune_images, seed=seed, deadline=deadline,
        )  # fmt: skip
        meta = {
            "model": model_name,
            "dataset": getattr(val_data, "name", ""),
            "input_shape": list(val_data.input_shape),
            "chance_accuracy": chance_accuracy(val_data),
            "image_size": getattr(val_data, "extra", {}).get("image_size"),
            "target": dataclasses.asdict(target),
            "budget": dataclasses.asdict(budget),
            "baseline_training": base_info,
            "space": {**dataclasses.asdict(space), "notes": space.notes},
            "machine": machine_info(),
            "sampler": sampler,
            "robustness": settings_dict(robustness),
            "output": output_desc,
            "isolation": {"isolated": isolate, "candidate_timeout_s": budget.candidate_timeout_s},
        }
        study_mod.enqueue_single_techniques(study, space, budget.trials)

        def refresh(display: SearchDisplay) -> None:
            records = study_mod.records_from_study(study)
            write_results(out_dir, build_results(records, meta, constraints))
            display.update(len(records), records)

        runner = make_runner(evaluator, isolate, budget.candidate_timeout_s, out_dir)
        try:
            if budget.workers == 1:  # with workers, each worker process runs its own child
                _start(runner, meta, console)
            display = SearchDisplay(budget.trials, console, enabled=progress)
            with display.running():
                refresh(display)
                if budget.workers == 1:
                    study_mod.run_trials(
                        study, space, runner, settings, deadline=deadline.search_ends,
                        on_trial=lambda _record: refresh(display),
                    )  # fmt: skip
                else:
                    _run_workers(
                        settings, out_dir, space, evaluator, deadline.search_ends, budget.workers,
                        display, refresh, (isolate, budget.candidate_timeout_s),
                    )  # fmt: skip
                refresh(display)
            note_search_end(study, deadline, budget.trials)
            _start(runner, meta, console)
            records, results = finish(
                study, runner, meta, constraints, out_dir, (test_data, val_data), console,
                robustness, deadline,
            )  # fmt: skip
            return Result(
                out_dir, records, results["front"], results["baseline"], results["recommended"],
                summary_line(results), results,
            )  # fmt: skip
        finally:
            runner.close()


def chance_accuracy(data: Any) -> float | None:
    """Accuracy of always answering the commonest class of `data` (None without labels)."""
    labels = getattr(data, "labels", None)
    if labels is None or len(labels) == 0:
        return None
    return float(torch.bincount(labels.long()).max()) / len(labels)


def _resumable(out_dir: Path) -> bool:
    """Whether a failed run left work that `--resume` continues: the trained baseline or a
    finished trial (results.json lists its records)."""
    import json

    if (out_dir / "cache" / "baseline.safetensors").exists():
        return True
    try:
        return bool(json.loads((out_dir / "results.json").read_text()).get("records"))
    except (OSError, ValueError, AttributeError):
        return False


def make_runner(
    evaluator: CandidateEvaluator, isolate: bool, timeout_s: float | None, out_dir: Path
) -> LocalRunner:
    """Where candidates run: an isolated child (its output in out/logs) or this process."""
    if not isolate:
        return LocalRunner(evaluator)
    log = out_dir / "logs" / f"candidates-{os.getpid()}.log"
    return IsolatedRunner(evaluator, timeout_s, log, getattr(evaluator, "deadline", None))


def _start(runner: LocalRunner, meta: dict[str, Any], console: Console) -> None:
    runner.start()
    if runner.note and meta["isolation"].get("note") != runner.note:
        console.print(runner.note)
        meta["isolation"] = {**meta["isolation"], "isolated": False, "note": runner.note}


def note_search_end(study: Any, deadline: RunDeadline, n_trials: int) -> None:
    """Say when the budget, not --trials, ended the search: its window closed, or the next
    candidate was skipped because it would not have fitted (study.run_trials)."""
    finished = len(study_mod.finished_trials(study))
    if deadline.at is None or finished >= n_trials:
        return
    skipped = [
        t.user_attrs["error"]
        for t in study.get_trials(deepcopy=False)
        if str(t.user_attrs.get("error", "")).startswith("skipped: needs")
    ]
    if skipped or deadline.left(deadline.finish_s) <= 0:
        why = f" (next candidate {skipped[-1].removeprefix('skipped: ')})" if skipped else ""
        deadline.note(f"search stopped after {finished} of {n_trials} trials{why}")


def baseline(
    model: nn.Module, train_data: Any, val_data: Any, out_dir: Path, budget: Budget,
    train_baseline: bool, seed: int, console: Console, probe: Any = None,
    deadline: RunDeadline | None = None,
) -> tuple[nn.Module, str, dict[str, Any]]:  # fmt: skip
    """The trained baseline and a key for it; trained once and cached in out/cache, within
    `deadline`'s search window (what the time limit cut is noted there)."""
    from safetensors.torch import load_file, save_file

    weights = out_dir / "cache" / "baseline.safetensors"
    info_path = out_dir / "cache" / "baseline.json"
    info: dict[str, Any] = {"trained": train_baseline}
    if train_baseline and weights.exists():
        model.load_state_dict(load_file(str(weights)))
        info = {**info, "from_cache": True}
    elif train_baseline:
        console.print("training the baseline ...")
        torch.manual_seed(seed)
        ends = deadline.search_ends if deadline else None
        model, info = fit_baseline(model, train_data, val_data, budget, seed, probe, ends)
        if deadline is not None and info.get("stop_reason") in ("time_limit", "deadline"):
            planned = info["config"]["epochs"]
            deadline.note(
                f"baseline training stopped at its time limit after {info['epochs_done']:.2g} "
                f"of {planned:g} epochs"
            )
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        with atomic_path(weights) as tmp:
            save_file(state, str(tmp))
        write_json(info_path, info)
    if info_path.exists() and info.get("from_cache"):
        import json

        info = {**json.loads(info_path.read_text()), "from_cache": True}
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return model.eval(), digest.hexdigest()[:16], info


def available_runtimes() -> list[str]:
    try:
        import cnnopt.runtimes  # noqa: F401
        from cnnopt.runtimes.base import RUNTIMES

        return RUNTIMES.names()
    except ImportError:
        return ["eager"]


def unhonoured_precisions() -> dict[str, tuple[str, ...]]:
    """Precision -> runtimes that would run something else on this CPU (SearchSpace's
    cannot_run): OpenVINO without bf16 hardware runs a bf16 request in fp32."""
    try:
        from cnnopt.runtimes.openvino_rt import cpu_runs_bf16

        return {} if cpu_runs_bf16() else {"bf16": ("openvino",)}
    except ImportError:  # no OpenVINO: restricted_to drops the runtime anyway
        return {}


def machine_info() -> dict[str, Any]:
    try:
        from cnnopt.bench import machine_info as info

        return dict(info())
    except Exception:
        import os
        import platform

        return {"cpu": platform.processor(), "cores": os.cpu_count(), "torch": torch.__version__}


def _worker(settings, out_dir, space, evaluator, deadline, isolation) -> None:
    study = study_mod.open_study(settings, out_dir, resume=True, fail_interrupted=False)
    runner = make_runner(evaluator, *isolation, out_dir)
    try:
        runner.start()
        study_mod.run_trials(study, space, runner, settings, deadline=deadline)
    finally:
        runner.close()


def _run_workers(
    settings, out_dir, space, evaluator, deadline, workers, display, refresh,
    isolation=(False, None),
) -> None:  # fmt: skip
    """N processes on one study, each with its own isolated child when `isolation` is
    (True, timeout_s); this process only watches and refreshes the display."""
    ctx = multiprocessing.get_context("spawn")
    # Own sampler seeds: with equal ones every worker would propose the same candidates.
    seeds = [dataclasses.replace(settings, seed=settings.seed + index) for index in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(seeded, out_dir, space, evaluator, deadline, isolation))
        for seeded in seeds
    ]
    for proc in procs:
        proc.start()
    while any(p.is_alive() for p in procs):
        time.sleep(2)
        refresh(display)
    for proc in procs:
        proc.join()
