"""`cnnopt bench` and `cnnopt export` when the runtime dies in native code or hangs: one line,
exit 2, no core dump, no traceback, no partial output (docs/bad-inputs.md, "Runtimes that crash
or hang"). The faults come from tests/native_faults.py, which only the isolated child imports
(CNNOPT_PLUGINS), exactly where a real OpenVINO/ONNX Runtime crash would happen."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import (
    assert_nothing_left,
    assert_one_line_error,
    files_under,
    run_in_process,
    run_subprocess,
)

PLUGIN = Path(__file__).resolve().parents[1] / "native_faults.py"
BENCH = "bench --json --model lenet5 --input 1x16x16 --max-seconds 0.05 --no-memory --batch-sizes 1"
EXPORT = "export --json --model lenet5 --input 1x16x16 --out exported"
CASES = {
    "bench-segv": (
        f"{BENCH} --runtime openvino", "openvino-fp32-compile=segv",
        "the openvino runtime crashed with SIGSEGV (segmentation fault) while compiling the model",
    ),
    "bench-killed": (
        f"{BENCH} --runtime onnxruntime", "onnxruntime-fp32-compile=oom",
        "the onnxruntime runtime was killed by SIGKILL (out of memory?) while compiling",
    ),
    "bench-hang": (
        f"{BENCH} --runtime onnxruntime --timeout 8", "onnxruntime-fp32-compile=hang",
        "the onnxruntime runtime hung while",
    ),
    "export-abort": (
        EXPORT, "onnxruntime-fp32-compile=abort",
        "the onnx export crashed with SIGABRT (aborted) while compiling the model",
    ),
}  # fmt: skip


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CNNOPT_PLUGINS", str(PLUGIN))
    return work


@pytest.mark.parametrize("case", sorted(CASES))
def test_native_crash(
    case: str, faulty: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command, faults, expect = CASES[case]
    monkeypatch.setenv("CNNOPT_TEST_FAULTS", faults)
    before = files_under(faulty)
    code, out, err = run_in_process(command.split(), capsys)
    line = assert_one_line_error(code, err, expect)
    assert not out, "no half result on stdout"
    assert "try another --runtime" in line
    if case == "bench-hang":
        assert "(stopped after 8 s)" in line and "--timeout" in line
    assert_nothing_left(faulty, before)


def test_native_crash_in_a_real_process_leaves_no_core_dump(
    faulty: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command, faults, expect = CASES["bench-segv"]
    monkeypatch.setenv("CNNOPT_TEST_FAULTS", faults)
    proc = run_subprocess(command.split(), faulty)
    assert_one_line_error(proc.returncode, proc.stderr, expect)  # not -11, no faulthandler dump
    assert "Current thread" not in proc.stderr and not list(faulty.glob("core*"))


def test_without_faults_bench_and_export_still_work(faulty: Path, capsys) -> None:
    code, out, err = run_in_process(f"{BENCH} --runtime onnxruntime".split(), capsys)
    assert code == 0, err
    assert '"runtime": "onnxruntime"' in out
    code, out, err = run_in_process(EXPORT.split(), capsys)
    assert code == 0, err
    assert (faulty / "exported" / "model.onnx").exists()
