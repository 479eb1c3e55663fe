"""Atomic output: a failure mid-write must leave the old file (or nothing), never a half file."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path, ensure_dir, safe_join, write_json, write_text


def test_write_json_round_trip(tmp_path):
    target = write_json(tmp_path / "sub" / "r.json", {"a": 1, "b": [1.5, 2]})
    assert json.loads(target.read_text()) == {"a": 1, "b": [1.5, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.bin"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new conte")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(CnnoptError, match="not writable"):
        ensure_dir(locked)


def test_directory_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CnnoptError, match="cannot create output directory"):
        write_json(tmp_path / "afile" / "out" / "r.json", {})


def test_safe_join_refuses_escape(tmp_path):
    assert safe_join(tmp_path, "best/model.onnx") == (tmp_path / "best/model.onnx").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../b"):
        with pytest.raises(CnnoptError, match="outside"):
            safe_join(tmp_path, bad)


def test_json_handles_numpy_and_tensors(tmp_path):
    import numpy as np
    import torch

    target = write_json(tmp_path / "r.json", {"n": np.float32(0.5), "t": torch.tensor([1, 2])})
    assert json.loads(target.read_text()) == {"n": 0.5, "t": [1, 2]}


def test_outputs_get_normal_permissions(tmp_path):
    """Also for writers that recreate the file themselves, as safetensors does (0600)."""
    from safetensors.numpy import save_file

    old = os.umask(0o022)
    try:
        target = write_text(tmp_path / "r.txt", "x")
        weights = tmp_path / "w.safetensors"
        with atomic_path(weights) as tmp:
            save_file({"w": np.zeros(2, np.float32)}, str(tmp))
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644


def test_remove_stale_temps_keeps_finished_files(tmp_path):
    write_text(tmp_path / "done.json", "{}")
    (tmp_path / "cache").mkdir()
    (tmp_path / ".model.bin.abc.tmp").write_text("half")
    (tmp_path / "cache" / ".w.safetensors.x.tmp").write_text("half")
    from cnnopt.fileio import remove_stale_temps

    assert remove_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["done.json"]
