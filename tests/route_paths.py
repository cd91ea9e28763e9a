"""Concrete paths for a URL rule of the application's map, for tests that call every route."""

from __future__ import annotations

import re
from collections.abc import Callable

# A placeholder: ``<name>``, ``<converter:name>`` or ``<converter(arguments):name>``.
PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def fill(rule: str, values_for: Callable[[str | None, str], list[str]]) -> list[str]:
    """``rule`` with each placeholder filled in every way ``values_for(converter, name)`` gives (every
    combination when there are several placeholders)."""
    paths = [rule]
    for converter, name in PLACEHOLDER.findall(rule):
        pattern = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?" + name + ">")
        paths = [pattern.sub(value, path, count=1) for path in paths for value in values_for(converter or None, name)]
    return paths
