"""Catalogues of the names Herald's API answers with: error codes and event types.

Each entry says what its name means (one sentence) and who declared it (``herald`` for the core, or
a plugin's name). The core declares its entries in :mod:`herald.errors` and :mod:`herald.event_types`;
plugins add theirs through the ``register_error_codes`` and ``register_event_types`` hooks, which
:class:`herald.plugins.PluginRegistry` checks at start-up and adds to the same catalogues. A name
means one thing for the life of a process: adding it again the same way changes nothing, adding it
with another meaning, status or owner is a :class:`CatalogueConflict`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

CORE = "herald"  # the owner of the core's entries

_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class CatalogueConflict(ValueError):
    """An entry that is malformed, or that gives a catalogued name another meaning, status or owner."""


def _check_meaning(kind: str, name: str, meaning: str) -> None:
    if not isinstance(meaning, str) or not meaning.strip() or not meaning.rstrip().endswith("."):
        raise CatalogueConflict(f"{kind} {name!r} needs a meaning: one sentence, ending with a full stop")


@dataclasses.dataclass(frozen=True)
class ErrorCode:
    """One error code: ``code`` (snake_case), the HTTP ``status`` it is answered with, and its ``meaning``."""

    code: str
    status: int
    meaning: str
    plugin: str = CORE

    def __post_init__(self):
        if not isinstance(self.code, str) or not _CODE.match(self.code):
            raise CatalogueConflict(f"error code {self.code!r} is not snake_case")
        if not isinstance(self.status, int) or not 400 <= self.status <= 599:
            raise CatalogueConflict(f"error code {self.code!r} needs an HTTP error status (400-599), "
                                    f"not {self.status!r}")
        _check_meaning("error code", self.code, self.meaning)

    @property
    def name(self) -> str:
        """The code (what the catalogue is keyed by)."""
        return self.code


@dataclasses.dataclass(frozen=True)
class EventType:
    """One event type: ``name`` (``noun.verb_in_past``, such as ``post.created``) and its ``meaning``."""

    name: str
    meaning: str
    plugin: str = CORE

    def __post_init__(self):
        if not isinstance(self.name, str) or not _EVENT.match(self.name):
            raise CatalogueConflict(f"event type {self.name!r} is not dotted lower case (such as post.created)")
        _check_meaning("event type", self.name, self.meaning)


Entry = TypeVar("Entry", ErrorCode, EventType)


class Catalogue(Generic[Entry]):
    """Entries by name, in the order they were added; ``name in catalogue``, iteration over names."""

    def __init__(self, noun: str, entries: Iterable[Entry] = ()):
        self.noun = noun
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        """Add ``entry``; the same entry again changes nothing, another under its name is a conflict."""
        with self._lock:
            known = self._entries.get(entry.name)
            if known is None:
                self._entries[entry.name] = entry
                return
        if known == entry:
            return
        if known.plugin != entry.plugin:
            raise CatalogueConflict(f"{self.noun} {entry.name!r} is declared twice: by {known.plugin!r} "
                                    f"and by {entry.plugin!r}")
        raise CatalogueConflict(f"{self.noun} {entry.name!r} of {entry.plugin!r} is declared twice, "
                                f"differently: {known} and {entry}")

    def get(self, name: str) -> Entry | None:
        """The entry named ``name``, or None."""
        return self._entries.get(name)

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, in the order added (the core's first)."""
        return list(self._entries.values())
