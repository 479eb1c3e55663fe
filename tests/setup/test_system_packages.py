"""tools/system-packages.sh, which `make demo` and `make test` run: it installs the Debian
packages when it may, and otherwise says in one line what is missing, never failing the build.

Each case runs the real script with a PATH of stub commands (`id`, `apt-get`, `sudo`), so the
branches for root, passwordless sudo and neither are all exercised on any machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "system-packages.sh"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, *, uid: int, apt: str | None, sudo: bool) -> tuple[int, list[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls.txt"
    _stub(bin_dir, "id", f"echo {uid}")
    if apt is not None:
        _stub(bin_dir, "apt-get", f'echo "$@" >> {calls}\n{apt}')
    if sudo:
        _stub(
            bin_dir,
            "sudo",
            '[ "$1" = -n ] && shift; [ "$#" = 1 ] && [ "$1" = true ] && exit 0; "$@"',
        )
    env = {
        "PATH": str(bin_dir),
        "TMPDIR": str(tmp_path),
        "CNNOPT_SYSTEM_DATASETS": str(tmp_path / "datasets"),  # nothing installed there
    }
    proc = subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )
    return proc.returncode, (proc.stdout + proc.stderr).splitlines(), calls


def test_root_installs_what_is_missing_and_says_so(tmp_path: Path) -> None:
    rc, lines, calls = _run(tmp_path, uid=0, apt="exit 0", sudo=False)
    assert rc == 0
    assert lines == ["system packages: installed dataset-fashion-mnist chromium"]
    assert "install -y -qq dataset-fashion-mnist chromium" in calls.read_text()


def test_passwordless_sudo_is_used_when_not_root(tmp_path: Path) -> None:
    rc, lines, calls = _run(tmp_path, uid=1000, apt="exit 0", sudo=True)
    assert (rc, lines) == (0, ["system packages: installed dataset-fashion-mnist chromium"])
    assert calls.exists()


def test_without_root_or_sudo_it_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    rc, lines, calls = _run(tmp_path, uid=1000, apt="exit 0", sudo=False)
    assert rc == 0
    assert len(lines) == 1
    assert "not root and no passwordless sudo" in lines[0]
    assert "dataset-fashion-mnist chromium" in lines[0]
    assert "falls back to digits" in lines[0]
    assert not calls.exists()  # apt-get never ran


def test_a_failing_apt_get_does_not_fail_the_build(tmp_path: Path) -> None:
    rc, lines, _ = _run(tmp_path, uid=0, apt="echo 'E: no network' >&2; exit 100", sudo=False)
    assert rc == 0
    assert len(lines) == 1 and "could not install" in lines[0]


def test_nothing_to_do_when_everything_is_there(tmp_path: Path) -> None:
    (tmp_path / "datasets" / "fashion-mnist").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "chromium", "exit 0")
    env = {"PATH": str(bin_dir), "CNNOPT_SYSTEM_DATASETS": str(tmp_path / "datasets")}
    proc = subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "system packages: dataset-fashion-mnist and chromium already installed"
    ]


@pytest.mark.parametrize("target", ["demo", "test"])
def test_both_readme_commands_run_the_system_set_up(target: str) -> None:
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    rule = next(line for line in makefile.splitlines() if line.startswith(f"{target}:"))
    assert "system" in rule.split(":", 1)[1].split()


def test_ci_runs_only_what_a_user_runs() -> None:
    ci = (SCRIPT.parents[1] / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert not any("apt-get" in c or "pip install" in c for c in commands)
    assert os.access(SCRIPT, os.X_OK)
