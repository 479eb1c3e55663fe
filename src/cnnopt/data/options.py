"""Validation of the few dataset options (image size, channels, fractions) shared by loaders."""

from __future__ import annotations

from typing import Any

from cnnopt.errors import CnnoptError

MIN_SIZE, MAX_SIZE = 4, 1024  # below 4 pixels no zoo net runs; above 1024 RAM runs out first


def image_size(value: Any, dataset: str, name: str = "size") -> tuple[int, int] | None:
    """An int, "HxW" text or (H, W) pair -> (H, W); None stays None (keep the native size).

    `name` is what the caller calls the value (a loader's `size=`, load_dataset's
    `image_size=`), so the message names the argument the user actually wrote."""
    if value is None:
        return None
    given = value
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            value = ()
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) in (1, 2)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        dims = (int(value[0]), int(value[-1]))
        if all(MIN_SIZE <= d <= MAX_SIZE for d in dims):
            return dims
    raise CnnoptError(
        f"dataset {dataset!r}: {name} must be one number or HxW between {MIN_SIZE} and "
        f"{MAX_SIZE}, got {given!r}",
        f"e.g. {name}=32 or {name}='28x28'",
    )


def fraction(value: Any, name: str, dataset: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise CnnoptError(
        f"dataset {dataset!r}: {name} must be between 0 and 1 (exclusive), got {value!r}",
        f"e.g. {name}=0.2",
    )


def count(value: Any, name: str, dataset: str, minimum: int = 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise CnnoptError(
        f"dataset {dataset!r}: {name} must be a whole number >= {minimum}, got {value!r}",
        f"e.g. {name}={max(minimum, 10)}",
    )


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """CLI `--option size=28 --option shape=1x28x28` -> {"size": 28, "shape": "1x28x28"}.

    Values are read as YAML scalars/lists, so numbers become numbers and [3, 32, 32] a list.
    """
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CnnoptError(f"dataset option {item!r} is not KEY=VALUE", "e.g. --option size=28")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parsed[key.strip()] = tuple(value) if isinstance(value, list) else value
    return parsed
