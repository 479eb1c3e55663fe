"""The parent side of `cnnopt.isolation`: `Worker` starts a child, sends it calls, and turns
its death (a signal, a time limit) into `ChildCrashed`; `run_isolated` makes that one CLI line.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.fileio import entries, remove_new_entries
from cnnopt.isolation.child import recv_message, send_message

USER_MODULE_PREFIX = "cnnopt_user_model_"  # cnnopt.models.user's names for file models
START_TIMEOUT_S = 300.0  # importing torch + runtimes and unpickling the state, on a slow host
STDERR_LINES = 4
STAGE_WORDS = {
    "start": "starting",
    "build": "building the model",
    "quantize": "quantizing (calibration)",
    "export": "exporting the model",
    "compile": "compiling the model",
    "accuracy": "measuring accuracy",
    "measure": "measuring latency",
    "test": "measuring test accuracy",
    "attack": "attacking the model",
    "details": "exporting best/",
    "benchmark": "benchmarking",
}


class ChildCrashed(Exception):
    """The child ended without answering: a signal, a time limit, or an unexpected exit."""

    def __init__(
        self, reason: str, stage: str, stderr: list[str], log: Path | None, timed_out: bool = False
    ) -> None:
        self.reason, self.stage, self.stderr, self.log = reason, stage, stderr, log
        self.timed_out = timed_out
        super().__init__(self.describe())

    def describe(self) -> str:
        text = f"{self.reason} while {STAGE_WORDS.get(self.stage, self.stage)}"
        if self.stderr:
            text += "; last stderr: " + " | ".join(self.stderr)
        return text


class ChildStartError(Exception):
    """The child could not load what it was given (e.g. a model class defined in __main__)."""


# -- in the parent ----------------------------------------------------------------------------
class Worker:
    """One persistent child process; `call(fn, *args)` runs `fn` there and returns its result.

    `fn` must be importable by name (a module-level function). `state` (any picklable object)
    is pickled once and handed to every child this worker starts (`child_state()` there), so a
    restart after a crash costs a process start, not another copy of the caller's work.
    """

    def __init__(self, state: Any = None, log: str | Path | None = None) -> None:
        self._state = state
        self._state_bytes: bytes | None = None
        self._own_log = log is None
        if log is None:
            handle, name = tempfile.mkstemp(prefix="cnnopt-child-", suffix=".log")
            os.close(handle)
            log = name
        self.log = Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.starts = 0

    # lifecycle
    def start(self) -> None:
        """Start the child and hand it the state; ChildStartError if that cannot be done."""
        if self._state is not None and self._state_bytes is None:
            try:
                self._state_bytes = pickle.dumps(self._state, protocol=5)
            except Exception as exc:  # a lambda or a local class inside the model, say
                raise ChildStartError(
                    f"cannot hand the work to a child process: {type(exc).__name__}: {exc}"
                ) from None
            self._state = None  # the bytes are what every restart sends
        parent_sock, child_sock = socket.socketpair()
        src = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        fd = child_sock.fileno()
        code = f"from cnnopt.isolation.child import child_main; child_main({fd}, {os.getpid()})"
        offset = self._log_size()
        with open(self.log, "ab") as log:
            log.write(f"=== child started {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(fd,),
                env=env,
                start_new_session=True,  # Ctrl-C reaches the parent, which ends the child
            )
        child_sock.close()
        self._conn = Connection(parent_sock.detach())
        self.starts += 1
        init = {
            "sys_path": [p for p in sys.path if isinstance(p, str)],
            "user_files": _user_model_files(),
            "threads": _torch_threads(),
            "state": self._state_bytes,
        }
        try:
            try:
                send_message(self._conn, init)
            except OSError:  # it died before reading: say how
                raise self._crash(self._exit_reason(), "start", offset) from None
            reply = self._wait(time.monotonic() + START_TIMEOUT_S, "start", offset, None)
        except ChildCrashed as exc:
            self.close()
            raise ChildStartError(f"the child process did not start: {exc.describe()}") from None
        if reply[0] != "ready":
            self.close()
            raise ChildStartError(f"the child process could not load its work: {reply[1]}")

    def close(self, grace_s: float = 0.0) -> None:
        """End the child (and anything it started), after `grace_s` to leave on its own."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=grace_s)  # a closed socket ends its loop
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = self._conn = None

    def discard_log(self) -> None:
        if self._own_log:
            with contextlib.suppress(OSError):
                self.log.unlink()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(grace_s=2.0)
        self.discard_log()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # calls
    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout_s: float | None = None,
        on_stage: Callable[[str], None] | None = None,
        stage: str = "start",
        **kwargs: Any,
    ) -> Any:
        """`fn(*args, **kwargs)` in the child, which starts in stage `stage`. Raises
        ChildCrashed when the child dies or runs past `timeout_s` (it is killed; the next call
        starts a new one), and re-raises what `fn` raised, its child traceback attached."""
        if not self.alive:
            self.close()
            self.start()
        assert self._conn is not None
        offset = self._log_size()
        deadline = time.monotonic() + timeout_s if timeout_s else None
        message = pickle.dumps((fn, args, kwargs, stage), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._conn.send_bytes(message)
        except OSError:  # it died while idle (the out-of-memory killer, say)
            raise self._crash(self._exit_reason(), stage, offset) from None
        reply = self._wait(deadline, stage, offset, on_stage, timeout_s)
        if reply[0] == "ok":
            return reply[1]
        blob, summary, text = reply[1:]
        if isinstance(blob, tuple) and blob[:1] == ("cnnopt",):
            error = CnnoptError(blob[1], blob[2])
            error.exit_code = blob[3]
            raise error
        error = blob if isinstance(blob, Exception) else RuntimeError(summary)
        error.add_note(f"raised in the isolated child process:\n{text}")
        raise error

    def _wait(
        self,
        deadline: float | None,
        stage_name: str,
        offset: int,
        on_stage: Callable[[str], None] | None,
        timeout_s: float | None = None,
    ) -> tuple:
        assert self._conn is not None and self._proc is not None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                self._abort_for_stack()
                limit = f"{timeout_s:g} s" if timeout_s else "its start limit"
                reason = f"time limit: still running after {limit} (killed)"
                stack = [r for r in stderr_tail(self.log, offset) if not r.startswith("Fatal")]
                raise ChildCrashed(reason, stage_name, stack, self.log, timed_out=True)
            try:
                if not self._conn.poll(left):
                    continue
                message = recv_message(self._conn)
            except (EOFError, OSError):
                raise self._crash(self._exit_reason(), stage_name, offset) from None
            if message[0] == "stage":
                stage_name = message[1]
                if on_stage is not None:
                    on_stage(stage_name)
                continue
            return message

    def _abort_for_stack(self) -> None:
        """SIGABRT first: faulthandler then writes where the child hung; then kill it all."""
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=3)
        self.close()

    def _exit_reason(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.close()
            return "the child closed its connection and was killed"
        self.close()
        return exit_reason(code)

    def _crash(self, reason: str, stage_name: str, offset: int) -> ChildCrashed:
        return ChildCrashed(reason, stage_name, stderr_tail(self.log, offset), self.log)

    def _log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0


def exit_reason(code: int) -> str:
    """'SIGSEGV (segmentation fault)', 'killed by SIGKILL (out of memory?)', 'exit code 3'."""
    if code >= 0:
        return f"the child exited with code {code}"
    number = -code
    if number == signal.SIGKILL:
        return "killed by SIGKILL (out of memory?)"
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    meaning = signal.strsignal(number) or ""
    return f"{name} ({meaning.lower()})" if meaning else name


def stderr_tail(log: Path, offset: int = 0, lines: int = STDERR_LINES) -> list[str]:
    """The telling lines the child wrote since `offset`: faulthandler's header and the
    innermost frames of the crashing thread when it reported a fatal signal, else the last
    non-empty lines."""
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            text = handle.read()[-200_000:].decode(errors="replace")
    except OSError:
        return []
    rows = [r.strip() for r in text.splitlines() if r.strip() and not r.startswith("=== child")]
    fatal = [i for i, row in enumerate(rows) if row.startswith("Fatal Python error")]
    if not fatal:
        return [row[:300] for row in rows[-lines:]]
    rows = rows[fatal[-1] :]
    current = [i for i, row in enumerate(rows) if row.startswith("Current thread")]
    frames = rows[current[0] + 1 :] if current else rows[1:]
    frames = [_frame(row) for row in frames if row.startswith("File ")]
    return [rows[0], *frames[: lines - 1]]


def _frame(row: str) -> str:
    """'File "/a/b/openvino_rt.py", line 73 in _request' -> 'openvino_rt.py:73 in _request'."""
    match = re.match(r'File "(.*)", line (\d+) in (.*)', row)
    return f"{Path(match[1]).name}:{match[2]} in {match[3]}" if match else row


def _user_model_files() -> list[str]:
    return [
        str(module.__file__)
        for name, module in list(sys.modules.items())
        if name.startswith(USER_MODULE_PREFIX) and getattr(module, "__file__", None)
    ]


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def run_isolated(
    fn: Callable[..., Any],
    *args: Any,
    what: str,
    hint: str,
    timeout_s: float | None = None,
    new_files_in: str | Path | None = None,
    progress: bool = False,
    stage: str = "start",
    **kwargs: Any,
) -> Any:
    """`fn(*args, **kwargs)` in a one-off child; a crash or hang there becomes one CnnoptError
    ("<what> crashed with SIGSEGV (...) while compiling the model; <hint>; its last output:
    ..."). Files the crashed child wrote under `new_files_in` are removed, so a failed command
    leaves no partial output. `progress`: a spinner on stderr naming the child's stage."""
    folder = Path(new_files_in) if new_files_in is not None else None
    existed = folder is not None and folder.exists()
    before = entries(folder)
    with Worker() as worker, _spinner(progress, what) as on_stage:
        try:
            return worker.call(
                fn, *args, timeout_s=timeout_s, on_stage=on_stage, stage=stage, **kwargs
            )
        except ChildCrashed as exc:
            remove_new_entries(folder, before)
            if folder is not None and not existed:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            doing = STAGE_WORDS.get(exc.stage, exc.stage)
            if exc.timed_out:
                message = f"{what} hung while {doing} (stopped after {timeout_s:g} s)"
                hint += "; or allow more time with --timeout"
            elif exc.reason.startswith("killed"):
                message = f"{what} was {exc.reason} while {doing}"
            else:
                message = f"{what} crashed with {exc.reason} while {doing}"
            if exc.stderr and not exc.timed_out:
                hint += f"; its last output: {' at '.join(exc.stderr[:2])[:240]}"
            raise CnnoptError(message, hint) from None
        except ChildStartError as exc:
            raise CnnoptError(str(exc), "run it again; if it persists, report a bug") from None


@contextlib.contextmanager
def _spinner(enabled: bool, what: str) -> Iterator[Callable[[str], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status(f"{what}: starting") as status:
        yield lambda name: status.update(f"{what}: {STAGE_WORDS.get(name, name)}")
