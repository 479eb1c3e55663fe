"""Run work in a child process, so a native crash, an abort or a hang costs one result, not
the whole command.

OpenVINO, ONNX Runtime and torch kernels are C++: a segfault or an abort there kills the Python
process that called them, whatever `try` surrounds the call, and a hang there never returns.
So whatever touches them runs in a `Worker`: a fresh interpreter (started with subprocess, not
forked: no inherited threads or locks, and the caller's `__main__` is not re-run, so a script
needs no `if __name__ == "__main__"` guard). The parent sends it calls over a socket and gets
back results, or learns how the child ended: the signal (SIGSEGV, SIGABRT, SIGKILL from the
out-of-memory killer), a time limit the parent enforced, the *stage* it was in (the child
reports stages with `set_stage`/`stage`, e.g. "compile" inside a runtime), and the last lines of
its stderr, where faulthandler writes the Python stack of a fatal signal.

Calls and results travel as plain pickles (tensors copied by value, not through shared memory:
the child is no multiprocessing child, and a small /dev/shm in a container cannot break it).
The child dies with its parent (PR_SET_PDEATHSIG, plus a watcher thread), so a killed command
leaves no orphan measuring on.

Extension and test hook: `CNNOPT_PLUGINS` (module names or .py files, separated by the path
separator ':') is imported by every child before it runs anything, e.g. a module that registers
an extra runtime. Model files given as `--model file.py:factory` are re-imported in the child
under their own module name, so their classes unpickle there.
"""

from cnnopt.isolation.child import (
    PLUGINS_ENV,
    child_state,
    current_stage,
    in_child,
    set_stage,
    stage,
    traceback_tail,
)
from cnnopt.isolation.worker import (
    STAGE_WORDS,
    ChildCrashed,
    ChildStartError,
    Worker,
    exit_reason,
    run_isolated,
    stderr_tail,
)

__all__ = [
    "PLUGINS_ENV",
    "STAGE_WORDS",
    "ChildCrashed",
    "ChildStartError",
    "Worker",
    "child_state",
    "current_stage",
    "exit_reason",
    "in_child",
    "run_isolated",
    "set_stage",
    "stage",
    "stderr_tail",
    "traceback_tail",
]
