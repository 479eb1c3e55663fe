"""Check values read from a file (a recipe's YAML) against a config dataclass's field types.

YAML gives `finetune_epochs: "2"` as the text '2'; passed on, it fails deep inside a transform
with a TypeError traceback (`'<' not supported between str and int`). Checking each value
against the annotation of the field it fills, before the dataclass is built, turns that into
one line naming the option, the kind of value it needs and what it got.

Only the annotation shapes configs use are understood (bool, int, float, str, None, unions,
list[X], tuple[X, ...], dict[K, V], Any); an annotation it does not know accepts anything, so
a new kind of field is never refused by mistake.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def field_problem(cls: type, name: str, value: Any) -> str | None:
    """'ratio must be a number, got '2'' when `value` does not fit field `name`, else None."""
    hint = _hints(cls).get(name)
    if hint is None or _fits(hint, value):
        return None
    return f"{name} must be {_describe(hint)}, got {value!r}"


def first_problem(cls: type, data: dict[str, Any]) -> str | None:
    """The first field of `data` (in the dataclass's order) whose value has the wrong type."""
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    for name in names:
        if name in data:
            problem = field_problem(cls, name, data[name])
            if problem:
                return problem
    return None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: check nothing rather than guess
        return {}


def _fits(hint: Any, value: Any) -> bool:
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(arg, value) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_fits(args[0], v) for v in value) if args else True
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(args[0], v) for v in value)
        return not args or (len(args) == len(value) and all(map(_fits, args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            return False
        key, val = args if len(args) == 2 else (Any, Any)
        return all(_fits(key, k) and _fits(val, v) for k, v in value.items())
    return True  # an annotation this checker does not know: accept


def _describe(hint: Any) -> str:
    names = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text",
        type(None): "empty (null)",
    }
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        # `float | None` reads "a number": null is the unset default, not what users write.
        return " or ".join(_describe(a) for a in args if a is not type(None)) or "null"
    if origin in (list, tuple):
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict:
        return f"a mapping of {_plural(args[1])}" if len(args) == 2 else "a mapping"
    return str(hint)


def _plural(hint: Any) -> str:
    plurals = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "texts"}
    return plurals.get(hint, _describe(hint))
