"""cnnopt.isolation: how a child's end is told apart and reported (signal, kill, limit), and
that exceptions raised in the child come back as themselves."""

from __future__ import annotations

import signal
from pathlib import Path

import native_faults
import pytest

from cnnopt.errors import CnnoptError
from cnnopt.isolation import ChildCrashed, Worker, exit_reason, stderr_tail
from cnnopt.runtimes.base import build_predictor

PLUGIN = Path(native_faults.__file__)


def test_exit_reasons_name_the_signal() -> None:
    assert exit_reason(-signal.SIGSEGV) == "SIGSEGV (segmentation fault)"
    assert exit_reason(-signal.SIGABRT) == "SIGABRT (aborted)"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL (out of memory?)"
    assert exit_reason(3) == "the child exited with code 3"


def test_stderr_tail_prefers_the_crashing_threads_innermost_frames(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text(
        "=== child started ===\nsome warning\nFatal Python error: Segmentation fault\n\n"
        'Thread 0x1 (most recent call first):\n  File "/x/threading.py", line 9 in wait\n\n'
        "Current thread 0x2 (most recent call first):\n"
        '  File "/venv/openvino/_ov_api.py", line 543 in compile_model\n'
        '  File "/src/cnnopt/runtimes/openvino_rt.py", line 74 in _request\n'
        '  File "/src/cnnopt/runtimes/openvino_rt.py", line 90 in predict\n'
        '  File "/src/cnnopt/search/evaluate_candidate.py", line 9 in build\n'
    )
    assert stderr_tail(log) == [
        "Fatal Python error: Segmentation fault",
        "_ov_api.py:543 in compile_model",
        "openvino_rt.py:74 in _request",
        "openvino_rt.py:90 in predict",
    ]
    assert stderr_tail(log, offset=log.stat().st_size) == []
    log.write_text("=== child started ===\nline 1\nline 2\n")
    assert stderr_tail(log) == ["line 1", "line 2"]


def test_worker_reraises_errors_and_survives_a_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNOPT_PLUGINS", str(PLUGIN))
    monkeypatch.setenv("CNNOPT_TEST_FAULTS", "any-fp32-here=oom")
    with Worker() as worker:
        with pytest.raises(CnnoptError, match="unknown runtime 'nosuch'") as error:
            worker.call(build_predictor, "nosuch", None, None)
        assert error.value.hint and "known:" in error.value.hint, "the hint survives the trip"
        with pytest.raises(ValueError, match="invalid literal") as raised:
            worker.call(int, "x")
        assert "isolated child process" in raised.value.__notes__[0]
        assert worker.starts == 1, "an exception does not cost the child"
        with pytest.raises(ChildCrashed) as crash:
            worker.call(native_faults.fault, "any", "fp32", "here", stage="measure")
        assert crash.value.reason == "killed by SIGKILL (out of memory?)"
        assert crash.value.stage == "measure" and not crash.value.timed_out
        assert "native_faults: oom in any fp32 here" in crash.value.stderr[-1]
        assert worker.call(int, "7") == 7 and worker.starts == 2, "restarted for the next call"
