"""Every data test runs offline, blind to the user's cache and to /usr/share/datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnopt.data import locate


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the user's cache or /usr/share/datasets, and none may touch the network."""
    monkeypatch.delenv("CNNOPT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    monkeypatch.setattr(locate, "SYSTEM_DATASETS", tmp_path / "system-datasets")
