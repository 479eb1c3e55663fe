"""OpenVINO's compile_model replaces the thread's alternate signal stack with one it frees
later; Python's handlers run on that stack, so a Ctrl-C after an OpenVINO session in the same
process used to kill it with SIGSEGV (found by the Ctrl-C resume test running after the
OpenVINO tests). Each case runs in a fresh interpreter, so a segfault fails the test instead
of ending the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, os, signal, sys
    import torch
    from cnnopt.runtimes.signal_stack import signal_stack
    import faulthandler
    faulthandler.enable()  # a Python-managed alternate stack, as pytest and cnnopt's children have
    before = signal_stack()
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU()).eval()
    example = torch.randn(1, 1, 8, 8)
    if sys.argv[1] == "cnnopt":
        from cnnopt.runtimes.base import build_predictor
        predictor = build_predictor("openvino", model, example)
        predictor.predict(example)
    else:  # OpenVINO alone: what cnnopt guards against
        import openvino as ov
        predictor = ov.Core().compile_model(ov.convert_model(model, example_input=example), "CPU")
    print("same stack:", signal_stack() == before, flush=True)
    del predictor
    gc.collect()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause() if hasattr(signal, "pause") else None
    except KeyboardInterrupt:
        print("interrupted cleanly", flush=True)
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120
    )


def test_ctrl_c_after_an_openvino_session_is_a_clean_interrupt() -> None:
    proc = _run("cnnopt")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "same stack: True" in proc.stdout
    assert "interrupted cleanly" in proc.stdout


def test_openvino_alone_does_replace_the_signal_stack() -> None:
    """The premise: if this starts failing, OpenVINO stopped doing it and the guard can go."""
    proc = _run("openvino")
    assert "same stack: False" in proc.stdout, (proc.returncode, proc.stdout, proc.stderr[-500:])
