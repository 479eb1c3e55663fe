"""A name -> object registry shared by models, datasets, transforms and runtimes.

Unknown names fail with a CnnoptError that lists the known ones (a bare KeyError tells the
user nothing), and fnmatch patterns let `list_models('res*')` work like timm.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from cnnopt.errors import CnnoptError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        key = name.lower()
        if key in self._items and self._items[key] is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[key] = obj

    def get(self, name: str) -> T:
        key = name.lower()
        if key not in self._items:
            close = difflib.get_close_matches(key, self._items, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CnnoptError(
                f"unknown {self.kind} {name!r}",
                f"{hint}known: {', '.join(sorted(self._items))}",
            )
        return self._items[key]

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern.lower()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
