"""A registry of implementations by catalog name, filled by decorators in the modules of one package.

Lookups first import every module of that package, so a new file registers itself: adding a model, loader or
method is one engine file (plus its catalog entry). The import is by name, so the package's `__init__` never
imports its own modules and no import cycle forms.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str) -> None:
        self.kind, self.package = kind, package
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._entries[name] = entry
            return entry

        return wrap

    def unregister(self, name: str) -> None:
        del self._entries[name]

    def load_all(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")

    def get(self, name: str) -> T | None:
        self.load_all()
        return self._entries.get(name)

    def names(self) -> list[str]:
        self.load_all()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load_all()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
