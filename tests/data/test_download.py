"""Downloads over file:// URLs: verified files land atomically, bad ones are deleted."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from data_files import IDX_NAMES, make_mnist_dir

from cnnopt.data import download, load_dataset
from cnnopt.data.download import RemoteFile
from cnnopt.errors import CnnoptError


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CNNOPT_OFFLINE", raising=False)


def _remote(source: Path, *digests: str, mirrors: tuple[str, ...] = ()) -> RemoteFile:
    urls = (*mirrors, source.as_uri())
    return RemoteFile(source.name, urls, frozenset(digests))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_renames(tmp_path: Path, online: None) -> None:
    source = tmp_path / "src" / "blob.bin"
    source.parent.mkdir()
    source.write_bytes(b"payload" * 1000)
    remote = _remote(source, "sha256:" + _sha(source.read_bytes()))
    target = download.download(remote, tmp_path / "out", progress=False)
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["blob.bin"]  # no temp left


def test_unreachable_mirror_falls_back_to_next(tmp_path: Path, online: None) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(b"abc")
    dead = (tmp_path / "missing").as_uri() + "/"
    remote = _remote(source, "sha256:" + _sha(b"abc"), mirrors=(dead + "blob.bin",))
    assert download.download(remote, tmp_path / "out", progress=False).read_bytes() == b"abc"


def test_checksum_mismatch_deletes_and_raises(tmp_path: Path, online: None) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(b"tampered")
    remote = _remote(source, "sha256:" + _sha(b"original"))
    with pytest.raises(CnnoptError, match="checksum mismatch"):
        download.download(remote, tmp_path / "out", progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written or unverified


def test_content_digest_accepts_recompressed_copy(tmp_path: Path, online: None) -> None:
    payload = b"idx content" * 100
    source = tmp_path / "file.gz"
    source.write_bytes(gzip.compress(payload, mtime=123))  # different gzip header
    remote = _remote(source, "sha256-gunzip:" + _sha(payload))
    assert download.verify(download.download(remote, tmp_path / "out", progress=False), remote)


def test_monkeypatched_opener_is_used(tmp_path: Path, online: None) -> None:
    class Response:
        def __init__(self) -> None:
            self.headers = {"Content-Length": "5"}
            self.chunks = [b"hello", b""]

        def read(self, _: int) -> bytes:
            return self.chunks.pop(0)

        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    seen: list[str] = []

    def opener(url: str, timeout: float) -> Response:
        seen.append(url)
        return Response()

    digests = frozenset({"sha256:" + _sha(b"hello")})
    remote = RemoteFile("x.bin", ("https://example.invalid/x.bin",), digests)
    target = download.download(remote, tmp_path, opener=opener, progress=False)
    assert seen == ["https://example.invalid/x.bin"] and target.read_bytes() == b"hello"


def test_offline_env_refuses_without_network(tmp_path: Path) -> None:
    remote = RemoteFile("x.bin", ("https://example.invalid/x.bin",), frozenset({"sha256:00"}))
    with pytest.raises(download.DownloadError, match="CNNOPT_OFFLINE"):
        download.download(remote, tmp_path, progress=False)


def test_missing_dataset_is_downloaded_into_cache_and_loaded(
    tmp_path: Path, online: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_mnist_dir(tmp_path / "mirror", gz=True)
    remotes = tuple(
        _remote(path, "sha256:" + _sha(path.read_bytes()))
        for path in sorted((tmp_path / "mirror").iterdir())
    )
    monkeypatch.setitem(download.REMOTE_FILES, "mnist", remotes)
    data = load_dataset("mnist", "trainval")
    cache = tmp_path / "xdg-cache" / "cnnopt" / "mnist"
    assert data.extra["source"] == str(cache) and len(data) == 24
    assert {p.name for p in cache.iterdir()} == {n + ".gz" for n in IDX_NAMES.values()}


def test_real_fashion_mnist_files_match_the_checksum_table() -> None:
    system = Path("/usr/share/datasets/fashion-mnist")
    if not system.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    for remote in download.REMOTE_FILES["fashion-mnist"]:
        assert download.verify(system / remote.filename, remote), remote.filename
