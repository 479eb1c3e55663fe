"""Where dataset files are looked for, in one documented order, and where downloads go.

Order: the explicit root (CLI --data-dir) and root/<name>; $CNNOPT_DATA/<name> and $CNNOPT_DATA;
~/.cache/cnnopt/<name>; /usr/share/datasets/<name> (Debian's dataset-* packages, e.g.
`apt install dataset-fashion-mnist`). The first directory that holds every needed file wins, so
a user's own copy always beats a system one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

SYSTEM_DATASETS = Path("/usr/share/datasets")


def cache_dir(name: str) -> Path:
    """The per-user download cache (~/.cache/cnnopt/<name>, honouring $XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnopt" / name


def search_dirs(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Every directory that may hold `name`'s files, best first, without duplicates."""
    dirs: list[Path] = []
    if root is not None:
        dirs += [Path(root), Path(root) / name]
    env = os.environ.get("CNNOPT_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs += [cache_dir(name), SYSTEM_DATASETS / name]
    unique: list[Path] = []
    for directory in dirs:
        directory = directory.expanduser()
        if directory not in unique:
            unique.append(directory)
    return unique


def download_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where a missing dataset is downloaded: under the user's chosen place, else the cache.

    Always a per-dataset sub-directory, because MNIST and Fashion-MNIST use the same file names.
    """
    if root is not None:
        return Path(root).expanduser() / name
    env = os.environ.get("CNNOPT_DATA")
    if env:
        return Path(env).expanduser() / name
    return cache_dir(name)


def find_file(directory: Path, candidates: Sequence[str]) -> Path | None:
    """The first of several accepted spellings of one file (e.g. raw or .gz) in `directory`."""
    for candidate in candidates:
        path = directory / candidate
        if path.is_file():
            return path
    return None


def locate(
    name: str,
    root: str | os.PathLike | None,
    resolve: Callable[[Path], dict[str, Path] | None],
) -> dict[str, Path] | None:
    """Apply `resolve` (directory -> needed files, or None) to each search directory in order."""
    for directory in search_dirs(name, root):
        if directory.is_dir():
            found = resolve(directory)
            if found is not None:
                return found
    return None


def searched_text(name: str, root: str | os.PathLike | None) -> str:
    """The searched directories, for error messages."""
    return ", ".join(str(d) for d in search_dirs(name, root))
