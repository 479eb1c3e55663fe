from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys

import cnnopt.commands as commands
from cnnopt.cli import build_parser, command_in, main
from cnnopt.commands import COMMANDS


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


def test_help_does_not_import_torch():
    """`cnnopt --help` lists every command without importing torch (seconds at start-up)."""
    code = (
        "import sys\n"
        "from cnnopt.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'onnxruntime', 'openvino', 'optuna')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('cnnopt.commands.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout
    for name in COMMANDS:
        assert name in proc.stdout


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_command_list_matches_the_command_modules():
    """COMMANDS (what `--help` lists without importing) names exactly the modules with a
    `register`, with the help line each registers."""
    modules = {
        info.name
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
        and hasattr(importlib.import_module(f"cnnopt.commands.{info.name}"), "register")
    }
    assert modules == set(COMMANDS)
    full = build_parser()
    subparsers = _subparsers(full)
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert helps == COMMANDS


def test_a_command_runs_with_only_its_own_module_loaded(capsys):
    """main() registers the command being run in full, the others as help-only stubs."""
    parser = build_parser(load=["models"])
    subparsers = _subparsers(parser)
    assert len(subparsers.choices["train"]._actions) == 1  # a stub: --help only
    assert len(subparsers.choices["models"]._actions) > 1
    assert main(["models", "resnet20", "--json"]) == 0
    assert "resnet20" in capsys.readouterr().out
    assert command_in(["--version"]) is None and command_in(["eval", "--model", "x"]) == "eval"
