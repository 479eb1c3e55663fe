"""Crash-safe file output: write to a temporary file beside the target, then rename.

A reader (or a resumed run) therefore sees either the old file or the whole new one, never a
half-written one, even after SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and parents) or explain why it cannot be used as an output directory."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnoptError(
            f"cannot create output directory {path}: {exc.strerror}",
            "choose a writable location with --out",
        ) from None
    if not os.access(path, os.W_OK):
        raise CnnoptError(
            f"output directory {path} is not writable", "choose a writable location with --out"
        )
    return path


def check_output_location(path: str | os.PathLike) -> None:
    """Refuse an output folder that could not be created or written, *without* creating it:
    commands check --out before minutes of work but create it only when they write."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CnnoptError(
            f"cannot create output directory {path}: Not a directory",
            "choose a writable location with --out",
        )
    if not os.access(existing, os.W_OK):
        raise CnnoptError(
            f"output directory {existing} is not writable", "choose a writable location with --out"
        )


@contextlib.contextmanager
def undo_on_failure(
    folder: str | os.PathLike, keep: Callable[[], bool] | None = None
) -> Iterator[Path]:
    """Run a command's writing stage so that a failure (an error, Ctrl-C) takes back what it
    wrote under `folder`: new files and folders, and the folders it had to create, `folder`
    included. A folder that existed before stays, and so does what was already in it.
    `keep()` true at the failure keeps everything (work a `--resume` can continue)."""
    folder = Path(folder)
    created = folder  # the outermost folder this call may create (folder itself, or a parent)
    while not created.parent.exists() and created.parent != created.parent.parent:
        created = created.parent
    existed = folder.exists()
    before = entries(folder)
    try:
        yield folder
    except BaseException:
        if keep is not None and keep():
            raise
        remove_new_entries(folder, before)
        if not existed:
            remove_new_entries(created, set())
            with contextlib.suppress(OSError):
                created.rmdir()
        raise


def entries(folder: str | os.PathLike | None) -> set[Path]:
    """Every file and folder under `folder` (empty when it does not exist)."""
    if folder is None or not Path(folder).is_dir():
        return set()
    return set(Path(folder).rglob("*"))


def remove_new_entries(folder: str | os.PathLike | None, before: set[Path]) -> None:
    """Delete what appeared under `folder` since `before` was taken: a failed writer's files,
    then the folders they leave empty (a folder holding anything older stays)."""
    new = sorted(entries(folder) - before, key=lambda p: len(p.parts), reverse=True)
    for path in new:
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces `target` atomically, on error it vanishes.

    Use this for libraries that insist on writing to a path themselves (ONNX, safetensors).
    """
    target = Path(target)
    ensure_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600, and some writers (safetensors) recreate the file 0600 too;
        # a finished output gets the permissions of any new file, as `open` would give it.
        umask = os.umask(0)
        os.umask(umask)
        tmp_path.chmod(0o666 & ~umask)
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_temps(directory: str | os.PathLike) -> int:
    """Delete the hidden temporaries `atomic_path` leaves when a process is killed mid-write.

    Resuming commands call this first; the finished files next to them are untouched.
    """
    stale = list(Path(directory).rglob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    return write_text(
        target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def _json_default(obj: Any) -> Any:
    # numpy scalars, tensors and paths show up in records; JSON has no type for them.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def safe_join(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """Join a path taken from a recipe/config under `root`, refusing anything that escapes it."""
    root_path = Path(root).resolve()
    candidate = (root_path / relative).resolve()
    if candidate != root_path and root_path not in candidate.parents:
        raise CnnoptError(
            f"path {relative!s} points outside {root_path}",
            "use a path relative to the output directory without '..'",
        )
    return candidate
