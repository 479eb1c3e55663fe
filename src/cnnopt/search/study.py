"""The Optuna study behind `cnnopt optimize`: storage, resume, and the trial loop.

The study database is the single source of truth: every finished trial carries its full
`Record` in `user_attrs["record"]`, so results.json can always be rebuilt from it, a killed
run loses nothing that finished, and a resumed run only runs what is missing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.isolation import traceback_tail
from cnnopt.record import Record
from cnnopt.search.budget import DEFAULT_TRIALS
from cnnopt.search.space import CandidateSpec, SearchSpace

STUDY_NAME = "cnnopt"
# A trial whose record is a copy of an earlier identical candidate: not counted, not shown.
DUPLICATE_ATTR = "duplicate_of"
MAX_DUPLICATES_IN_A_ROW = 25


@dataclass
class StudySettings:
    """The trial loop's settings; cnnopt.search.optimize fills them from the user's Budget."""

    n_trials: int = DEFAULT_TRIALS
    time_budget_s: float | None = None
    storage: str | None = None  # None: SQLite in the output directory
    study_name: str = STUDY_NAME
    sampler: str = "tpe"  # tpe | nsga2 | random
    seed: int = 0
    minimize_size: bool = False


def storage_for(spec: str | None, out_dir: Path) -> tuple[Any, bool]:
    """(Optuna storage, is_private). Private = our own SQLite file, which nobody else writes.

    Shared storages (PostgreSQL/MySQL URL, a journal file other machines append to) get
    heartbeats, so a dead worker's trial is detected by time instead of being failed blindly.
    """
    import optuna

    logging.getLogger("optuna").setLevel(logging.WARNING)
    if spec is None:
        return f"sqlite:///{(out_dir / 'study.db').resolve()}", True
    if spec.startswith(("sqlite:", "postgresql", "mysql")):
        if spec.startswith("sqlite:"):
            return spec, False
        return optuna.storages.RDBStorage(spec, heartbeat_interval=30, grace_period=120), False
    if spec.endswith((".log", ".journal", ".jsonl")) or spec.startswith("journal:"):
        path = spec.removeprefix("journal:")
        backend = optuna.storages.journal.JournalFileBackend(path)
        return optuna.storages.JournalStorage(backend), False
    raise CnnoptError(
        f"unknown study storage {spec!r}",
        "give a sqlite:///, postgresql:// or mysql:// URL, or a journal file ending in .log",
    )


def make_sampler(settings: StudySettings) -> Any:
    import optuna

    if settings.sampler == "tpe":
        startup = max(3, min(10, settings.n_trials // 3))
        return optuna.samplers.TPESampler(
            seed=settings.seed, n_startup_trials=startup, constant_liar=True, multivariate=True
        )
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=settings.seed, population_size=8)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    raise CnnoptError(f"unknown sampler {settings.sampler!r}", "choose tpe, nsga2 or random")


def open_study(
    settings: StudySettings, out_dir: Path, resume: bool, fail_interrupted: bool = True
) -> Any:
    """Create the study, or load it with --resume; refuse to mix two runs by accident.

    fail_interrupted=False is for extra workers joining a study whose RUNNING trials are live.
    """
    import optuna
    from optuna.trial import TrialState

    storage, private = storage_for(settings.storage, out_dir)
    directions = ["maximize", "minimize"] + (["minimize"] if settings.minimize_size else [])
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)} if private else set()
    if private and settings.study_name in names and not resume:
        raise CnnoptError(
            f"{out_dir} already holds a search",
            "pass --resume to continue it, or choose an empty --out directory",
        )
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study_name,
        directions=directions,
        sampler=make_sampler(settings),
        load_if_exists=True,
    )
    if not fail_interrupted:
        return study
    if private:
        _fail_interrupted(study, TrialState)
    else:
        optuna.storages.fail_stale_trials(study)
    return study


def _fail_interrupted(study: Any, trial_state: Any) -> None:
    """Trials left RUNNING by a killed run: mark FAIL and queue them again, so they run once."""
    for trial in study.get_trials(deepcopy=False, states=(trial_state.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted; re-queued")
        study._storage.set_trial_state_values(trial._trial_id, trial_state.FAIL)
        study.enqueue_trial(trial.params, user_attrs=_tags(trial.user_attrs))


def _tags(user_attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user_attrs.items() if k in ("single_technique",)}


def enqueue_single_techniques(study: Any, space: SearchSpace, n_trials: int) -> None:
    """Queue baseline and one-technique points first (only for a new study)."""
    if study.get_trials(deepcopy=False):
        return
    for tag, spec in space.single_technique_points()[:n_trials]:
        study.enqueue_trial(spec.to_params(), user_attrs={"single_technique": tag})


def finished_trials(study: Any) -> list[Any]:
    """Trials whose candidate was measured (ok or failed with a record), duplicates excluded."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return [t for t in trials if "record" in t.user_attrs and DUPLICATE_ATTR not in t.user_attrs]


def records_from_study(study: Any) -> list[Record]:
    """Every measured candidate, in trial order, with its trial number and tags in `extra`."""
    records = []
    for trial in sorted(finished_trials(study), key=lambda t: t.number):
        record = Record.from_dict(trial.user_attrs["record"])
        record.extra = {**record.extra, "trial": trial.number, **_tags(trial.user_attrs)}
        records.append(record)
    return records


Evaluate = Callable[[CandidateSpec], Record]


def run_trials(
    study: Any,
    space: SearchSpace,
    evaluate: Evaluate,
    settings: StudySettings,
    *,
    deadline: float | None = None,
    on_trial: Callable[[Record], None] | None = None,
) -> int:
    """Ask/measure/tell until n_trials candidates are finished (counting earlier runs) or the
    deadline passes. Returns how many candidates this call measured.

    A candidate that raises is recorded as failed and the loop continues (an isolated
    evaluator, cnnopt.search.isolated, also turns a native crash or a hang into such a record,
    so a crashed candidate is a finished trial that --resume does not run again). An identical
    candidate proposed again reuses the earlier record instead of being re-measured. When the
    evaluator can estimate a candidate's cost (`estimate_seconds`, e.g. fine-tuning a new
    pruned model) and it would overrun the deadline, the search ends there instead.
    """
    from optuna.trial import TrialState

    estimate = getattr(evaluate, "estimate_seconds", None)
    measured = 0
    duplicates_in_a_row = 0
    while True:
        if deadline is not None and time.time() >= deadline:
            break
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if len(finished_trials(study)) + len(running) >= settings.n_trials:
            break
        trial = study.ask()
        spec = space.suggest(trial)
        trial.set_user_attr("candidate", spec.key())  # first, so other workers see it
        if _measured_elsewhere(study, trial, spec, settings):
            duplicates_in_a_row += 1
            if duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                break  # the sampler keeps proposing measured points: the space is exhausted
            continue
        duplicates_in_a_row = 0
        if deadline is not None and estimate is not None:
            needed = float(estimate(spec))
            if time.time() + needed > deadline:
                trial.set_user_attr("error", f"skipped: needs ~{needed:.0f} s, budget is spent")
                study.tell(trial, state=TrialState.FAIL)
                break
        requested, spec = spec, _effective(evaluate, spec)
        if spec != requested:  # a step changed nothing: this is its parent candidate
            trial.set_user_attr("candidate", spec.key())
            trial.set_user_attr("requested", requested.key())
            if _measured_elsewhere(study, trial, spec, settings):
                duplicates_in_a_row += 1
                continue
        try:
            record = evaluate(spec)
        except Exception as exc:  # one broken candidate must not end the search
            record = Record(
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                extra={"traceback": traceback_tail(exc)},
            )
        record.extra = {**record.extra, "candidate": spec.key(), "spec": spec.__dict__.copy()}
        if spec != requested:
            record.extra["notes"] = [
                *record.extra.get("notes", []),
                f"requested {requested.label()!r}: its structure step changed nothing, so "
                "it is this candidate",
            ]
        trial.set_user_attr("record", record.to_dict())
        _tell(study, trial, record, settings, TrialState)
        measured += 1
        if on_trial is not None:
            with contextlib.suppress(Exception):
                on_trial(record)
    return measured


def _effective(evaluate: Evaluate, spec: CandidateSpec) -> CandidateSpec:
    """The candidate `spec` really is once no-op structure steps are dropped (see
    CandidateEvaluator.effective_spec); `spec` itself for evaluators that cannot tell."""
    find = getattr(evaluate, "effective_spec", None)
    if find is None:
        return spec
    try:
        return find(spec)
    except Exception:  # measuring `spec` meets the same error and records it as failed
        return spec


def _measured_elsewhere(study: Any, trial: Any, spec: CandidateSpec, settings: Any) -> bool:
    """Close `trial` when `spec` was measured by an earlier trial (a copy of its record, not
    counted) or is being measured by another worker right now; False: measure it here."""
    from optuna.trial import TrialState

    earlier, in_flight = _same_candidate(study, spec, trial.number, TrialState)
    if earlier is not None:
        trial.set_user_attr(DUPLICATE_ATTR, earlier[0])
        trial.set_user_attr("record", earlier[1])
        _tell(study, trial, Record.from_dict(earlier[1]), settings, TrialState)
        return True
    if in_flight:  # another worker is measuring it: not ours to repeat
        trial.set_user_attr("error", "skipped: another worker is measuring this candidate")
        study.tell(trial, state=TrialState.FAIL)
        return True
    return False


def _tell(study: Any, trial: Any, record: Record, settings: StudySettings, states: Any) -> None:
    if record.status != "ok" or record.accuracy is None or record.latency_ms_p50 is None:
        study.tell(trial, state=states.FAIL)
        return
    values = [record.accuracy, record.latency_ms_p50]
    if settings.minimize_size:
        values.append(float(record.file_size_bytes or 0))
    study.tell(trial, values)


def _same_candidate(
    study: Any, spec: CandidateSpec, number: int, states: Any
) -> tuple[tuple[int, dict] | None, bool]:
    """(earlier measured trial number and record, or None; whether an earlier trial is
    measuring it right now). One snapshot of the study, so a candidate another worker
    finishes meanwhile is seen as one or the other; of two workers that drew the same
    candidate at once, only the later-numbered trial yields."""
    earlier, in_flight = None, False
    key = spec.key()
    for t in study.get_trials(deepcopy=False):
        # a duplicate's own candidate is found through the trial it copies; the no-op
        # candidate it was requested as (a prune that changed nothing) only through it
        by_candidate = t.user_attrs.get("candidate") == key and DUPLICATE_ATTR not in t.user_attrs
        if t.number == number or not (by_candidate or t.user_attrs.get("requested") == key):
            continue
        if t.state in (states.COMPLETE, states.FAIL) and "record" in t.user_attrs:
            earlier = earlier or (t.number, t.user_attrs["record"])
        elif t.state == states.RUNNING and t.number < number:
            in_flight = True
    return earlier, in_flight
