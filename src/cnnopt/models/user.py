"""Models defined in the user's own Python file: `--model path/to/net.py:build`.

The file is imported as a fresh module and `build` is called with whichever of
num_classes / in_channels / width it accepts, so a user can bring any architecture without
registering it. Everything that can go wrong (no file, syntax error, import error, missing
factory, factory that fails or returns something else) becomes one CnnoptError with a hint.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from cnnopt.errors import CnnoptError

SPEC_FORMAT_HINT = "write it as path/to/file.py:factory_name, e.g. mynet.py:build"


def is_file_spec(spec: str) -> bool:
    """True for 'something.py:name' (and for a bare 'something.py', to give a clear error)."""
    path_part = spec.rsplit(":", 1)[0] if ":" in spec else spec
    return path_part.endswith(".py")


def split_file_spec(spec: str) -> tuple[Path, str]:
    """'dir/net.py:build' -> (Path('dir/net.py'), 'build'); rsplit keeps 'C:\\x.py:f' working."""
    if ":" not in spec or not spec.rsplit(":", 1)[1].strip():
        raise CnnoptError(f"model file {spec!r} names no factory function", SPEC_FORMAT_HINT)
    path_text, factory_name = spec.rsplit(":", 1)
    if not factory_name.isidentifier():
        raise CnnoptError(
            f"{factory_name!r} in {spec!r} is not a Python function name", SPEC_FORMAT_HINT
        )
    return Path(path_text).expanduser(), factory_name


def import_model_file(path: Path) -> ModuleType:
    """Import a .py file once per version, under a name unique to its path (two net.py files
    do not clash)."""
    if not path.is_file():
        raise CnnoptError(
            f"model file {str(path)!r} does not exist", "check the path (relative to this folder)"
        )
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"cnnopt_user_model_{resolved.stem}_{digest}"
    mtime = resolved.stat().st_mtime_ns
    cached = sys.modules.get(module_name)
    if cached is not None and getattr(cached, "__cnnopt_mtime__", None) == mtime:
        return cached  # importing twice would re-run any @register_model in the file
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise CnnoptError(f"cannot import {str(path)!r} as Python", "use a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # lets dataclasses/pickle inside the file find it
    try:
        with _own_argv(resolved, f"importing {str(path)!r}"):
            spec.loader.exec_module(module)
    except CnnoptError:
        sys.modules.pop(module_name, None)
        raise
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise CnnoptError(
            f"syntax error in {str(path)!r} line {exc.lineno}: {exc.msg}", "fix the file"
        ) from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise CnnoptError(
            f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}",
            "run `python <file>` to see the full error",
        ) from None
    module.__cnnopt_mtime__ = mtime  # type: ignore[attr-defined]
    return module


@contextlib.contextmanager
def _own_argv(path: Path, label: str) -> Iterator[None]:
    """Run the user's code with sys.argv = [their file], as `python file.py` would, and turn
    a sys.exit() inside it into one CnnoptError.

    A file that parses sys.argv at import time (argparse in module scope) would otherwise read
    cnnopt's own flags, print a usage text and exit. What the code writes to stderr is held
    back and passed on afterwards (dropped when it fails). When it exits, its last line (argparse's
    "error: ...") goes into the message, so the user still sees one line.
    """
    saved, captured = sys.argv, io.StringIO()
    sys.argv = [str(path)]
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except SystemExit as exc:
        said = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
        code = "" if exc.code is None else repr(exc.code)
        raise CnnoptError(
            f"{label} called sys.exit({code})" + (f" after printing {said[-1]!r}" if said else ""),
            "guard module-level code (argparse, main()) with if __name__ == '__main__':, and "
            "return a model from the factory (raise an exception to report a problem)",
        ) from None
    finally:
        sys.argv = saved
    sys.stderr.write(captured.getvalue())


def call_factory(factory: Any, label: str, args: dict[str, Any]) -> nn.Module:
    """Call with only the arguments the factory declares (all of them if it takes **kwargs)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {k: v for k, v in args.items() if takes_all or k in params}
    try:
        source = getattr(inspect.getmodule(factory), "__file__", None) or "model.py"
        with _own_argv(Path(source), label):
            model = factory(**accepted)
    except CnnoptError:
        raise
    except Exception as exc:
        raise CnnoptError(
            f"{label} raised {type(exc).__name__}: {exc}",
            "make the factory work with the arguments "
            + ", ".join(f"{k}={v!r}" for k, v in accepted.items()),
        ) from None
    if not isinstance(model, nn.Module):
        raise CnnoptError(
            f"{label} returned {type(model).__name__}, not a torch.nn.Module",
            "return the model instance from the factory",
        )
    return model


def load_user_model(spec: str, **args: Any) -> tuple[nn.Module, str]:
    """Build the model named by 'file.py:factory'; also return the spec with an absolute path.

    The absolute path is what goes into checkpoint metadata, so a run can be reloaded from
    another working directory.
    """
    path, factory_name = split_file_spec(spec)
    module = import_model_file(path)
    factory = getattr(module, factory_name, None)
    if factory is None:
        public = sorted(
            n
            for n, obj in vars(module).items()
            if callable(obj)
            and not n.startswith("_")
            and getattr(obj, "__module__", None) == module.__name__
        )
        raise CnnoptError(
            f"{str(path)!r} has no function {factory_name!r}",
            f"functions defined there: {', '.join(public)}" if public else SPEC_FORMAT_HINT,
        )
    if not callable(factory):
        raise CnnoptError(
            f"{factory_name!r} in {str(path)!r} is a {type(factory).__name__}, not a function",
            "point at a function (or nn.Module class) that builds the model",
        )
    model = call_factory(factory, f"{factory_name}() in {str(path)!r}", args)
    return model, f"{path.resolve()}:{factory_name}"
