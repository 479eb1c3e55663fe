from __future__ import annotations

import subprocess
import sys

from cnnopt.cli import main


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: cnnopt" in capsys.readouterr().out


def test_unknown_command_is_one_line_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "cnnopt.cli", "frobnicate"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cnnopt: error:" in proc.stderr
    assert "Traceback" not in proc.stderr
