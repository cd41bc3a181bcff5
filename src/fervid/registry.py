"""One small registry type for the named things fervid chooses between (as timm registers its models): face
detectors, temporal methods, emotion models and datasets. Each is a read-only mapping from name to entry that
answers an unknown name with one clear error listing what is there."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from fervid.errors import FervidError

T = TypeVar("T")


class UnknownName(FervidError, KeyError, ValueError):
    """A name no registry entry has; the message lists the registered ones. (A KeyError and a ValueError, so
    both lookup code and option validation catch it.)"""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, kind: str, entries: Mapping[str, T] | Callable[[], Mapping[str, T]]):
        """``entries``: the entries, or a function giving them (for registries read from disk when first used)."""
        self.kind = kind
        self._entries: dict[str, T] | None = None if callable(entries) else dict(entries)
        self._load = entries

    @property
    def entries(self) -> dict[str, T]:
        if self._entries is None:
            assert callable(self._load)  # (entries given as a mapping are copied at once)
            self._entries = dict(self._load())
        return self._entries

    def __getitem__(self, name: str) -> T:
        try:
            return self.entries[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.entries) or 'none'}"
                              ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.entries)})"
