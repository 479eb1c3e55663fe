"""The finishing stage of `cnnopt optimize`, in the search process: the front's speed-ups
re-timed beside the baseline, test accuracy of the Pareto front, attacks on it, the
recommended model's details and best/, then results.json and the report, all within what is
left of the time budget.

Exporting best/ is what the user came for, so EXPORT_RESERVE_S is kept for it: test accuracy
and attacks start on a front candidate only while more than that is left. Attacks are the
first thing given up: they run after test accuracy, stop between batches at the reserve, and
are skipped outright when too little is left. Everything shortened or skipped is noted in the
run's RunDeadline, so results.json, the report and the closing line say what was cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from cnnopt.record import Record
from cnnopt.search import study as study_mod
from cnnopt.search.deadline import EXPORT_RESERVE_S, RunDeadline, budget_line
from cnnopt.search.results import build_results, chance_line, summary_line, write_results

# Spare seconds (beyond the export reserve) worth starting an attack with: a rebuild from the
# cache and one batch of FGSM + PGD on a small model.
MIN_ATTACK_S = 2.0


def finish(
    study: Any, runner: Any, meta: dict[str, Any], constraints: Any, out_dir: Path,
    data: tuple[Any, Any], console: Console, robustness: Any, deadline: RunDeadline,
) -> tuple[list[Record], dict[str, Any]]:  # fmt: skip
    """Finish the run; `data` is (test, val). Returns the records and the results written."""
    from cnnopt.report import write_report

    test_data, val_data = data
    records = study_mod.records_from_study(study)
    results = build_results(records, meta, constraints)
    if _confirm_front(runner, records, results, deadline, console):
        results = build_results(records, meta, constraints)  # chosen on re-timed speed-ups
    if test_data is not None and results["front"]:
        console.print("measuring test accuracy of the Pareto front ...")
        _test_accuracy(runner, records, results["front"], test_data, deadline)
        results = build_results(records, meta, constraints)
    if robustness.enabled and results["front"]:
        console.print(f"attacking the Pareto front: {robustness.describe()} ...")
        _attacks(runner, records, results["front"], val_data, robustness, deadline, console)
        results = build_results(records, meta, constraints)
    index = results["recommended"]["index"]
    if index is not None:
        console.print("exporting the recommended model to best/ ...")
        yaml_text = _recipe_yaml(records[index], runner.evaluator)
        details = runner.recommended_details(
            records[index], test_data or val_data, out_dir, yaml_text
        )
        results["recommended"]["details"] = details
    results["budget"] = {**results["budget"], **deadline.summary(candidate_cuts(records))}
    write_results(out_dir, results)
    write_report(out_dir, results)
    console.print(summary_line(results))
    if chance_line(results):
        console.print(chance_line(results), soft_wrap=True, highlight=False)
    if budget_line(results):
        console.print(budget_line(results), soft_wrap=True, highlight=False)
    return records, results


def _confirm_front(
    runner: Any, records: list[Record], results: dict[str, Any], deadline: RunDeadline,
    console: Console,
) -> bool:  # fmt: skip
    """Re-time front candidates turn about with the baseline (search/confirm.py), while the
    budget allows; True when any was re-timed."""
    from cnnopt.search.confirm import CONFIRM_S, to_confirm

    indices = to_confirm(records, results["front"], results["baseline"])
    if not indices:
        return False
    console.print(f"re-timing {len(indices)} front candidate(s) beside the baseline ...")
    for done, i in enumerate(indices):
        if deadline.left(EXPORT_RESERVE_S) <= CONFIRM_S:
            deadline.note(
                f"speed-ups not re-timed beside the baseline for {len(indices) - done} of "
                f"{len(indices)} front candidate(s): budget spent"
            )
            return done > 0
        runner.confirm_speedups(records, [i], results["baseline"])
    return True


def _test_accuracy(
    runner: Any, records: list[Record], front: list[int], test_data: Any, deadline: RunDeadline
) -> None:
    for done, i in enumerate(front):
        if deadline.left(EXPORT_RESERVE_S) <= 0:
            deadline.note(
                f"test accuracy skipped for {len(front) - done} of {len(front)} front "
                "candidate(s): budget spent"
            )
            return
        runner.add_test_accuracy(records, [i], test_data)


def _attacks(
    runner: Any, records: list[Record], front: list[int], data: Any, settings: Any,
    deadline: RunDeadline, console: Console,
) -> None:  # fmt: skip
    attackable = [i for i in front if records[i].status == "ok"]
    stop_at = None if deadline.at is None else deadline.at - EXPORT_RESERVE_S
    for done, i in enumerate(attackable):
        if deadline.left(EXPORT_RESERVE_S) <= MIN_ATTACK_S:
            deadline.note(
                f"attacks skipped for {len(attackable) - done} of {len(attackable)} front "
                "candidate(s): budget spent"
            )
            return
        runner.add_robustness(
            records, [i], data, settings, progress=not console.quiet, deadline=stop_at
        )
        cut = (records[i].robustness or {}).get("cut")
        if cut:
            deadline.note(f"attacks on {records[i].name} {cut}")


def candidate_cuts(records: list[Record]) -> list[str]:
    """'trial 3 (fmnist_net pruned 50%): prune fine-tuning stopped ...', one per cut."""
    return [
        f"trial {record.extra.get('trial', '?')} ({record.name}): {text}"
        for record in records
        for text in record.extra.get("budget_cut") or []
    ]


def _recipe_yaml(record: Record, evaluator: Any) -> str:
    """The recommended candidate's full recipe (steps, lowering target, data draws) as YAML."""
    from cnnopt.search.recipe_export import candidate_recipe

    return candidate_recipe(record, evaluator).to_yaml()
