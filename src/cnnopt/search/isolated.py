"""Search candidates, and the finishing stage, in a child process (`cnnopt.isolation`).

A runtime that segfaults, aborts or hangs on one candidate (OpenVINO's compile_model on an
int8 graph, say) would otherwise kill the whole search with no report, and `--resume` would
walk into the same crash. Here the evaluator is handed once to a persistent child; each
candidate is one call. When the child dies or passes the per-candidate time limit the
candidate becomes a failed record that names the signal or limit, the stage and the child's
last stderr lines, the child is restarted, and the search goes on. The finishing stage (test
accuracy, attacks, best/) runs in the same child, so a QAT model trained during the search is
reused there, and a crash stores its error next to that candidate's numbers.

The parent keeps the study, the display and the cache index; the child reports back what the
parent's cost estimates need (training seconds, overhead, which QAT models it holds). With a
time budget no call may outlive the run by more than a margin (RunDeadline.call_limit), except
the export of best/, which must happen and gets at least EXPORT_LIMIT_S.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnopt.isolation import (
    ChildCrashed,
    ChildStartError,
    Worker,
    child_state,
    set_stage,
    traceback_tail,
)
from cnnopt.record import Record
from cnnopt.search.budget import DEFAULT_CANDIDATE_TIMEOUT_S
from cnnopt.search.deadline import RunDeadline
from cnnopt.search.evaluate_candidate import CandidateEvaluator
from cnnopt.search.space import CandidateSpec

# The least an export of best/ may take past the end of the budget before it counts as hung:
# ONNX export plus an OpenVINO conversion of a big model on 2 cores.
EXPORT_LIMIT_S = 60.0


class LocalRunner:
    """Candidates in this process, as `optimize(isolate=False)` asks; also the fallback when
    the evaluator cannot be handed to a child (e.g. a model class defined in a script's
    `__main__`, which a fresh interpreter cannot import)."""

    isolated = False

    def __init__(self, evaluator: CandidateEvaluator) -> None:
        self.evaluator = evaluator
        self.note: str | None = None

    def start(self) -> None:
        """Nothing to start here; IsolatedRunner starts its child."""

    def __call__(self, spec: CandidateSpec) -> Record:
        return self.evaluator(spec)

    def estimate_seconds(self, spec: CandidateSpec) -> float:
        return self.evaluator.estimate_seconds(spec)

    def effective_spec(self, spec: CandidateSpec) -> CandidateSpec:
        return self.evaluator.effective_spec(spec)

    def add_test_accuracy(self, records: list[Record], front: list[int], test_data: Any) -> None:
        from cnnopt.search.finalize import add_test_accuracy

        add_test_accuracy(self.evaluator, records, front, test_data)

    def confirm_speedups(self, records: list[Record], indices: list[int], base: int) -> None:
        """Each of `indices` re-timed against the baseline, interleaved (search/confirm.py);
        the result goes to record.extra["speedup"]."""
        from cnnopt.search.confirm import confirm_one

        for i in indices:
            records[i].extra["speedup"] = confirm_one(self.evaluator, records[base], records[i])

    def add_robustness(
        self, records: list[Record], front: list[int], data: Any, settings: Any, progress: bool,
        deadline: float | None = None,
    ) -> None:  # fmt: skip
        from cnnopt.search.finalize import spec_of
        from cnnopt.search.robustness import add_robustness

        ev = self.evaluator
        add_robustness(
            lambda record: ev.build(spec_of(record)), records, front, data, settings,
            seed=ev.seed, progress=progress, deadline=deadline,
        )  # fmt: skip

    def recommended_details(
        self, record: Record, data: Any, out_dir: Path, yaml_text: str
    ) -> dict[str, Any]:
        from cnnopt.search.finalize import recommended_details

        return recommended_details(self.evaluator, record, data, out_dir, yaml_text)

    def close(self) -> None:
        """Nothing to end here; IsolatedRunner ends its child."""


class IsolatedRunner(LocalRunner):
    """The same interface, every call made in one persistent child (restarted after a crash)."""

    isolated = True

    def __init__(
        self,
        evaluator: CandidateEvaluator,
        timeout_s: float | None = DEFAULT_CANDIDATE_TIMEOUT_S,
        log: str | Path | None = None,
        deadline: RunDeadline | None = None,
    ) -> None:
        super().__init__(evaluator)
        self.timeout_s = timeout_s
        self.deadline = deadline
        self.worker = Worker(evaluator, log)
        self._quantized: set[str] = set()  # QAT/int8 memo keys the child holds
        self._local = False

    def start(self) -> None:
        """Start the child now; if it cannot load the evaluator, run in this process."""
        if self._local or self.worker.alive:
            return
        try:
            self.worker.start()
        except ChildStartError as exc:
            self._local = True
            self.note = (
                f"candidates run in the search process, not isolated: {exc} (a model class "
                "defined in an importable module or a file.py:factory can be isolated)"
            )

    def limit(self, reserve_s: float = 0.0) -> float | None:
        """The time limit of a call made now: the per-candidate one, within the budget."""
        if self.deadline is None:
            return self.timeout_s
        return self.deadline.call_limit(self.timeout_s, reserve_s)

    def __call__(self, spec: CandidateSpec) -> Record:
        if self._local:
            return super().__call__(spec)
        ev = self.evaluator
        try:
            record, training, overhead, quantized = self.worker.call(
                _evaluate, spec, timeout_s=self.limit(), stage="build"
            )
        except ChildCrashed as exc:
            self._quantized = set()  # the child's QAT models died with it
            return crash_record(spec, ev, exc)
        ev.training_seconds.extend(training)
        if overhead is not None:
            ev.overhead_seconds.append(overhead)
        self._quantized = set(quantized)
        return record

    def estimate_seconds(self, spec: CandidateSpec) -> float:
        if self._local:
            return super().estimate_seconds(spec)
        return self.evaluator.estimate_seconds(spec, quantized=self._quantized)

    def effective_spec(self, spec: CandidateSpec) -> CandidateSpec:
        if self._local or not spec.structure_steps():
            return super().effective_spec(spec)
        try:
            effective, training = self.worker.call(_effective_spec, spec, timeout_s=self.limit())
        except ChildCrashed:  # measuring `spec` meets the same crash and records it
            return spec
        self.evaluator.training_seconds.extend(training)  # for the parent's cost estimates
        return effective

    def add_test_accuracy(self, records: list[Record], front: list[int], test_data: Any) -> None:
        if self._local:
            return super().add_test_accuracy(records, front, test_data)
        for i in front:
            try:
                found = self.worker.call(_test_accuracy, records[i], test_data,
                                         timeout_s=self.limit())  # fmt: skip
            except ChildCrashed as exc:
                found = {"test_error": exc.describe()}
            records[i].extra.update(found)

    def confirm_speedups(self, records: list[Record], indices: list[int], base: int) -> None:
        if self._local:
            return super().confirm_speedups(records, indices, base)
        for i in indices:
            try:
                records[i].extra["speedup"] = self.worker.call(
                    _confirm, records[base], records[i], timeout_s=self.limit()
                )
            except ChildCrashed as exc:
                records[i].extra["speedup"] = {"error": exc.describe()}

    def add_robustness(
        self, records: list[Record], front: list[int], data: Any, settings: Any, progress: bool,
        deadline: float | None = None,
    ) -> None:  # fmt: skip
        if self._local:
            return super().add_robustness(records, front, data, settings, progress, deadline)
        from cnnopt.search.robustness import is_white_box

        for i in front:
            record = records[i]
            if record.status != "ok" or not settings.enabled:
                continue
            try:
                record.robustness = self.worker.call(
                    _robustness, record, data, settings, deadline, timeout_s=self.limit()
                )
            except ChildCrashed as exc:
                mode = "white-box" if is_white_box(record.runtime, record.precision) else "transfer"
                record.robustness = {"mode": mode, "error": exc.describe()}

    def recommended_details(
        self, record: Record, data: Any, out_dir: Path, yaml_text: str
    ) -> dict[str, Any]:
        if self._local:
            return super().recommended_details(record, data, out_dir, yaml_text)
        try:
            return self.worker.call(
                _details, record, data, out_dir, yaml_text, timeout_s=self.limit(EXPORT_LIMIT_S)
            )
        except ChildCrashed as exc:
            error = exc.describe()
            return {"split": data.name or "test", "error": error, "export": {"error": error}}

    def close(self) -> None:
        self.worker.close(grace_s=2.0)


def crash_record(spec: CandidateSpec, ev: CandidateEvaluator, crash: ChildCrashed) -> Record:
    """The failed record of a candidate whose child died: what it was, and how it ended."""
    return Record(
        name=spec.label(ev.model_name),
        model=ev.model_name,
        recipe=spec.structure_steps(),
        runtime=spec.runtime,
        precision=spec.precision,
        device=ev.target.device,
        batch_size=ev.target.batch_size,
        threads=ev.target.threads,
        status="failed",
        error=crash.describe(),
        extra={"stage": crash.stage, "crash": crash.reason, "stderr": crash.stderr,
               "log": str(crash.log) if crash.log else None},
    )  # fmt: skip


# -- run in the child (module-level: the parent sends them by name) --------------------------
def _evaluate(spec: CandidateSpec) -> tuple[Record, list[float], float | None, list[str]]:
    """One candidate: its record (failed on an exception, as in-process), plus the timings."""
    ev: CandidateEvaluator = child_state()
    trained = len(ev.training_seconds)
    overhead = None
    try:
        record = ev(spec)
        overhead = ev.overhead_seconds[-1]
    except Exception as exc:  # one broken candidate must not end the search
        record = Record(
            name=spec.label(ev.model_name), model=ev.model_name, runtime=spec.runtime,
            precision=spec.precision, status="failed", error=f"{type(exc).__name__}: {exc}",
            extra={"traceback": traceback_tail(exc)},
        )  # fmt: skip
    return record, ev.training_seconds[trained:], overhead, sorted(ev._quantized)


def _effective_spec(spec: CandidateSpec) -> tuple[CandidateSpec, list[float]]:
    """The effective candidate, and the fine-tunings building it took (seconds each)."""
    ev: CandidateEvaluator = child_state()
    trained = len(ev.training_seconds)
    return ev.effective_spec(spec), ev.training_seconds[trained:]


def _test_accuracy(record: Record, test_data: Any) -> dict[str, Any]:
    from cnnopt.search.finalize import add_test_accuracy

    set_stage("test")
    add_test_accuracy(child_state(), [record], [0], test_data)
    return {k: v for k, v in record.extra.items() if k in ("test_accuracy", "test_error")}


def _confirm(base: Record, record: Record) -> dict[str, Any]:
    from cnnopt.search.confirm import confirm_one

    set_stage("confirm")
    return confirm_one(child_state(), base, record)


def _robustness(
    record: Record, data: Any, settings: Any, deadline: float | None = None
) -> dict[str, Any] | None:
    from cnnopt.search.finalize import spec_of
    from cnnopt.search.robustness import add_robustness

    set_stage("attack")
    ev: CandidateEvaluator = child_state()
    add_robustness(
        lambda r: ev.build(spec_of(r)), [record], [0], data, settings, seed=ev.seed,
        deadline=deadline,
    )  # fmt: skip
    return record.robustness


def _details(record: Record, data: Any, out_dir: Path, yaml_text: str) -> dict[str, Any]:
    from cnnopt.search.finalize import recommended_details

    set_stage("details")
    return recommended_details(child_state(), record, data, out_dir, yaml_text)
