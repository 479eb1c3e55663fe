"""The child side of `cnnopt.isolation`: stage reports, and the loop a child process runs.

Importing this module is cheap (no torch), so a runtime can report its stages with
`with stage("compile"): ...` whether or not it runs in a child; outside a child it only keeps
the name.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError

PLUGINS_ENV = "CNNOPT_PLUGINS"

_CONN: Connection | None = None
_STAGES: list[str] = ["start"]
_STATE: Any = None


def set_stage(name: str) -> None:
    """Name what the current process does now; a parent watching this child sees it."""
    _STAGES[-1] = name
    _notify(name)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """A nested stage (e.g. "compile" inside "accuracy"); the outer one is restored after."""
    _STAGES.append(name)
    _notify(name)
    try:
        yield
    finally:
        _STAGES.pop()
        _notify(_STAGES[-1])


def current_stage() -> str:
    return _STAGES[-1]


def in_child() -> bool:
    return _CONN is not None


def child_state() -> Any:
    """The object the parent handed this child once (e.g. the search's evaluator)."""
    return _STATE


def _notify(name: str) -> None:
    if _CONN is not None:
        send_message(_CONN, ("stage", name))


def send_message(conn: Connection, message: Any) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def recv_message(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())


def traceback_tail(exc: BaseException, lines: int = 3) -> list[str]:
    """The innermost frames of a traceback, one short line each (for a failed record)."""
    frames = traceback.extract_tb(exc.__traceback__)[-lines:]
    return [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames]


def _die_with_parent(parent: int) -> None:
    try:  # Linux: the kernel kills this process when the parent dies
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # it died before prctl
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:  # elsewhere: poll
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _import_plugins(user_files: list[str]) -> None:
    import importlib

    from cnnopt.models.user import import_model_file

    for path in user_files:
        import_model_file(Path(path))
    for item in filter(None, os.environ.get(PLUGINS_ENV, "").split(os.pathsep)):
        if item.endswith(".py"):
            import_model_file(Path(item))
        else:
            importlib.import_module(item)


def child_main(fd: int, parent: int) -> None:
    """The child's loop: one init message, then calls until the parent closes the socket."""
    global _CONN, _STATE
    _die_with_parent(parent)
    faulthandler.enable(file=sys.stderr)
    conn = Connection(fd)
    try:
        init = recv_message(conn)
        sys.path[:] = init["sys_path"] + [p for p in sys.path if p not in init["sys_path"]]
        if init.get("threads"):
            import torch

            torch.set_num_threads(init["threads"])
        _import_plugins(init["user_files"])
        _STATE = pickle.loads(init["state"]) if init["state"] is not None else None
    except Exception as exc:
        traceback.print_exc()
        send_message(conn, ("failed", f"{type(exc).__name__}: {exc}"))
        return
    _CONN = conn
    send_message(conn, ("ready",))
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args, kwargs, first_stage = pickle.loads(message)
            _STAGES[:] = [first_stage]
            reply: Any = ("ok", fn(*args, **kwargs))
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            traceback.print_exc()
            data = pickle.dumps(("raised", *_exception_info(exc)))
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(data)


def _exception_info(exc: BaseException) -> tuple[Any, str, str]:
    """(the exception itself if it pickles, else None; 'Type: message'; its traceback)."""
    text = "".join(traceback.format_exception(exc))
    blob: Any = None
    if isinstance(exc, CnnoptError):  # its hint is no constructor argument pickle would keep
        blob = ("cnnopt", exc.message, exc.hint, exc.exit_code)
    else:
        with contextlib.suppress(Exception):
            blob = pickle.loads(pickle.dumps(exc))
    return blob, f"{type(exc).__name__}: {exc}", text
