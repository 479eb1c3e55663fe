"""Downloads that either produce a verified file or nothing.

Each file is streamed into a temporary file beside its target and renamed only after its
SHA-256 matches the table; a mismatch deletes it and raises. Digests are of two kinds:
"sha256:<hex>" of the file as served, and "sha256-gunzip:<hex>" of its decompressed content.
The second kind exists because distributions re-compress archives (Debian's Fashion-MNIST
.gz files drop the original file name from the gzip header, so their bytes and the upstream
MD5s differ although the IDX content is identical); checking the content accepts any honest
copy and still rejects any changed pixel.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path

CHUNK = 1 << 20
TIMEOUT_S = 30.0
# An opener is urllib.request.urlopen or anything with its (url, timeout=...) -> response shape.
Opener = Callable[..., Any]


class DownloadError(CnnoptError):
    """No mirror could be reached (offline, firewall, removed file): distinct from bad data."""


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    urls: tuple[str, ...]  # mirrors, tried in order
    digests: frozenset[str]  # any match accepts the file (see the module docstring)


def _mirrored(filename: str, mirrors: Iterable[str], *digests: str) -> RemoteFile:
    return RemoteFile(filename, tuple(m + filename for m in mirrors), frozenset(digests))


_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_TORONTO = ("https://www.cs.toronto.edu/~kriz/",)

# Fashion-MNIST: content digests computed from Debian's dataset-fashion-mnist
# (0.0~git20200523.55506a9-1) files, plus the digests of those .gz files themselves.
# MNIST and CIFAR: the widely published SHA-256 of the upstream archives (the ones torchvision,
# Keras and TFDS pin; they correspond to the official MD5s f68b3c2d..., c58f3010..., eb9058c3...).
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "fashion-mnist": (
        _mirrored(
            "train-images-idx3-ubyte.gz",
            _FASHION_MIRRORS,
            "sha256-gunzip:c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "sha256:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        _mirrored(
            "train-labels-idx1-ubyte.gz",
            _FASHION_MIRRORS,
            "sha256-gunzip:bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "sha256:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        _mirrored(
            "t10k-images-idx3-ubyte.gz",
            _FASHION_MIRRORS,
            "sha256-gunzip:5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "sha256:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        _mirrored(
            "t10k-labels-idx1-ubyte.gz",
            _FASHION_MIRRORS,
            "sha256-gunzip:0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            "sha256:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    ),
    "mnist": (
        _mirrored(
            "train-images-idx3-ubyte.gz",
            _MNIST_MIRRORS,
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        _mirrored(
            "train-labels-idx1-ubyte.gz",
            _MNIST_MIRRORS,
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        _mirrored(
            "t10k-images-idx3-ubyte.gz",
            _MNIST_MIRRORS,
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        _mirrored(
            "t10k-labels-idx1-ubyte.gz",
            _MNIST_MIRRORS,
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    "cifar10": (
        _mirrored(
            "cifar-10-python.tar.gz",
            _TORONTO,
            "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    ),
    "cifar100": (
        _mirrored(
            "cifar-100-python.tar.gz",
            _TORONTO,
            "sha256:85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        ),
    ),
}


def file_digests(path: Path, kinds: Iterable[str] = ("sha256", "sha256-gunzip")) -> set[str]:
    """The digests of `path` in the "kind:hex" notation (gunzip ones only for gzip files)."""
    found: set[str] = set()
    kinds = set(kinds)
    if "sha256" in kinds:
        with path.open("rb") as handle:
            found.add("sha256:" + _sha256_stream(handle))
    if "sha256-gunzip" in kinds and _is_gzip(path):
        # a broken gzip simply matches no content digest
        with contextlib.suppress(OSError, EOFError), gzip.open(path, "rb") as handle:
            found.add("sha256-gunzip:" + _sha256_stream(handle))
    return found


def verify(path: Path, remote: RemoteFile) -> bool:
    """True when `path` matches one of the remote file's known digests."""
    kinds = {digest.split(":", 1)[0] for digest in remote.digests}
    return bool(file_digests(path, kinds) & remote.digests)


def download(
    remote: RemoteFile,
    directory: Path,
    *,
    opener: Opener | None = None,
    progress: bool = True,
) -> Path:
    """Fetch `remote` into `directory` (trying each mirror), verified, or raise.

    Raises DownloadError when no mirror answers (also when $CNNOPT_OFFLINE is set) and a plain
    CnnoptError when a mirror serves different bytes: that file is deleted, never used.
    """
    target = directory / remote.filename
    if os.environ.get("CNNOPT_OFFLINE"):
        raise DownloadError(f"not downloading {remote.filename}: CNNOPT_OFFLINE is set")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnoptError(
            f"cannot create the download folder {directory}: {exc.strerror}",
            "pass a writable folder with --data-dir or set $CNNOPT_DATA",
        ) from None
    opener = opener or urllib.request.urlopen
    failures: list[str] = []
    for url in remote.urls:
        try:
            with atomic_path(target) as tmp:
                _stream(opener, url, tmp, remote.filename, progress)
                if not verify(tmp, remote):
                    raise CnnoptError(
                        f"checksum mismatch for {remote.filename} downloaded from {url}; "
                        "the file was deleted",
                        "retry later or download it by hand and pass its folder with --data-dir",
                    )
            return target
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DownloadError(f"could not download {remote.filename} ({'; '.join(failures)})")


def _stream(opener: Opener, url: str, tmp: Path, label: str, progress: bool) -> None:
    """Copy the response body to `tmp` with a rich progress bar (bytes, speed, time left)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with opener(url, timeout=TIMEOUT_S) as response, tmp.open("wb") as out:
        length = response.headers.get("Content-Length") if response.headers else None
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(
            *columns, console=Console(stderr=True), transient=True, disable=not progress
        ) as bar:
            task = bar.add_task(f"download {label}", total=_int(length))
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.advance(task, len(chunk))


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _sha256_stream(handle: Any) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def fetch_dataset(
    name: str,
    directory: Path,
    searched: str,
    hint: str,
    *,
    opener: Opener | None = None,
    progress: bool = True,
) -> Path:
    """Download every file of `name` into `directory` (skipping verified ones); returns it.

    When the network is unreachable the user gets one error that says where we looked and how
    to provide the files, rather than a socket traceback.
    """
    for remote in REMOTE_FILES[name]:
        target = directory / remote.filename
        if target.is_file() and verify(target, remote):
            continue
        try:
            download(remote, directory, opener=opener, progress=progress)
        except DownloadError as exc:
            raise CnnoptError(
                f"dataset {name!r} not found (searched {searched}) and the download failed: "
                f"{exc.message}",
                hint,
            ) from None
    return directory
