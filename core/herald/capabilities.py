"""Which methods a plugin object really provides.

The SDK's base classes (:class:`herald.platforms.Platform`, :class:`herald.ai.provider.AIProvider`, …)
document every method the core may call, and mark the ones a plugin may leave out with
:func:`placeholder`. The core asks :func:`provided` before calling one: a method a subclass did not
override is not a capability of that plugin (a platform without ``post_comment`` takes no first
comments). Objects that do not subclass a base class work the same way: a method is provided when
it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__herald_placeholder__"


def placeholder(method: F) -> F:
    """Mark a base-class method as documentation only: a plugin that does not override it lacks it."""
    setattr(method, _MARK, True)
    return method


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` is a base class's :func:`placeholder` method (bound or not)."""
    return bool(getattr(value, _MARK, False))


def provided(obj: Any, name: str) -> Callable[..., Any] | None:
    """``obj``'s method ``name`` when it provides one; None when it is missing, None or a placeholder."""
    method = getattr(obj, name, None)
    if method is None or is_placeholder(method):
        return None
    return method
