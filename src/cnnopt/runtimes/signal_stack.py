"""Keep the calling thread's alternate signal stack across native calls that replace it.

OpenVINO's `compile_model` installs its own alternate signal stack (sigaltstack) on the calling
thread and frees that memory later, when its compiled model goes away. Python installs its
signal handlers with SA_ONSTACK, so the next Ctrl-C (or any signal with a Python handler) is
delivered onto freed memory and the kernel kills the process with SIGSEGV: measured here, a
training run interrupted after an OpenVINO session in the same process segfaulted instead of
saving its checkpoint. Restoring the previous stack after the call keeps signals safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator


class _StackT(ctypes.Structure):  # struct stack_t from <signal.h> (Linux)
    _fields_ = [
        ("ss_sp", ctypes.c_void_p),
        ("ss_flags", ctypes.c_int),
        ("ss_size", ctypes.c_size_t),
    ]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


@contextlib.contextmanager
def keep_signal_stack() -> Iterator[None]:
    """Run the body, then put back the alternate signal stack the thread had before it."""
    if _LIBC is None:
        yield
        return
    before = _StackT()
    saved = _LIBC.sigaltstack(None, ctypes.byref(before)) == 0
    try:
        yield
    finally:
        if saved:
            _LIBC.sigaltstack(ctypes.byref(before), None)


def signal_stack() -> tuple[int, int, int] | None:
    """(address, size, flags) of the thread's alternate signal stack, for tests."""
    if _LIBC is None:
        return None
    current = _StackT()
    if _LIBC.sigaltstack(None, ctypes.byref(current)) != 0:
        return None
    return int(current.ss_sp or 0), int(current.ss_size), int(current.ss_flags)
