"""The reference part of ``docs/plugins.md``, written from the SDK's docstrings.

``herald docs docs/plugins.md`` rewrites each section between its markers (``<!-- sdk-platform:start -->``
… ``<!-- sdk-platform:end -->``; likewise ``sdk-values``, ``sdk-settings``, ``sdk-errors``, ``sdk-http``, ``sdk-media``
and ``sdk-hooks``) from the docstrings of :mod:`herald.sdk` and :mod:`herald.hookspecs`, read with
:mod:`inspect`, so the documentation a plugin author reads is the one the code carries.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable

from . import hookspecs, sdk
from .sdk import http, media

ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc):`~?([^`]+)`")
ATTRIBUTE_DOC = re.compile(r"^\s*#: (?P<doc>.+)\n\s*(?P<name>\w+)\s*:", re.MULTILINE)


def markdown(docstring: str | None) -> str:
    """A docstring as Markdown: dedented, reST roles and double backquotes as code spans."""
    text = inspect.cleandoc(docstring or "")
    text = ROLE.sub(lambda match: f"``{match[1]}``", text)
    return text.replace("``", "`")


class _Shown:
    """A default value as the reference shows it (an object's repr would carry its address)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _default(value):
    if value is inspect.Parameter.empty or isinstance(value, (type(None), bool, int, float, str, tuple)):
        return value
    return _Shown(f"<{type(value).__name__}>")


def signature(function: Callable, name: str | None = None) -> str:
    """``name(arguments) -> answer`` as a plugin calls or writes it: no ``self``, no annotations on
    the arguments, the answer's annotation as written."""
    sig = inspect.signature(function)
    parameters = [parameter.replace(annotation=inspect.Parameter.empty, default=_default(parameter.default))
                  for parameter in sig.parameters.values() if parameter.name not in ("self", "cls")]
    text = f"{name or function.__name__}{sig.replace(parameters=parameters, return_annotation=inspect.Signature.empty)}"
    if sig.return_annotation is not inspect.Signature.empty:
        text += f" -> {sig.return_annotation}"
    return text


def _attribute_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comments above a class's attributes, by attribute name."""
    return {match["name"]: match["doc"] for match in ATTRIBUTE_DOC.finditer(inspect.getsource(cls))}


def _fields_table(cls: type) -> str:
    rows = ["| field | type | default |", "|---|---|---|"]
    for field in dataclasses.fields(cls):
        if field.name.startswith("_"):
            continue
        if field.default is not dataclasses.MISSING:
            default = f"`{getattr(field.default, '__name__', None) or repr(field.default)}`"
        elif field.default_factory is not dataclasses.MISSING:
            default = f"`{field.default_factory()!r}`"
        else:
            default = "required"
        rows.append(f"| `{field.name}` | `{field.type}` | {default} |".replace("|`", "| `"))
    return "\n".join(rows)


def _own_methods(cls: type) -> list[tuple[str, Callable]]:
    """The public methods and properties a class defines itself, in the order of its source."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            members.append((name, value))
    return members


def describe_class(cls: type, heading: str = "####") -> str:
    """A class's reference: its docstring, its fields or attributes, and each method's signature and docstring."""
    parts = [f"{heading} `{cls.__name__}`", markdown(cls.__doc__)]
    if dataclasses.is_dataclass(cls):
        parts.append(_fields_table(cls))
    attributes = _attribute_docs(cls)
    if attributes:
        rows = ["| attribute | default | meaning |", "|---|---|---|"]
        rows += [f"| `{name}` | `{getattr(cls, name)!r}` | {markdown(doc)} |" for name, doc in attributes.items()]
        parts.append("\n".join(rows))
    for name, member in _own_methods(cls):
        if isinstance(member, property):
            parts.append(f"- `{cls.__name__}.{name}` (a property): {markdown(member.__doc__)}")
            continue
        parts.append(f"{heading}# `{cls.__name__}.{signature(member, name)}`")
        parts.append(markdown(member.__doc__) or "(no description)")
    return "\n\n".join(part for part in parts if part)


def platform_section() -> str:
    """The ``Platform`` base class: what a platform plugin writes."""
    return describe_class(sdk.Platform)


VALUE_TYPES = ("TaskContext", "PostRef", "MediaRef", "AccountRef", "ConnectFlow", "ConnectField", "ConnectedAccount",
               "AuthorizationRequest", "OAuthGrant", "PublishOutcome", "TokenHealth", "RefreshedToken",
               "PublishingQuota", "PostRules", "MediaRule", "Ratio", "Action")


def values_section() -> str:
    """The values the core hands a platform and those a platform hands back."""
    return "\n\n".join(describe_class(getattr(sdk, name)) for name in VALUE_TYPES)


def settings_section() -> str:
    """``Setting`` and ``WorkspaceSetting``."""
    return "\n\n".join(describe_class(cls) for cls in (sdk.Setting, sdk.WorkspaceSetting))


def errors_section() -> str:
    """The exceptions a platform raises, and those of the HTTP client it catches."""
    classes = (sdk.PlatformRejected, sdk.PlatformUnavailable, sdk.NotConfigured, sdk.HeraldError)
    parts = [describe_class(cls) for cls in classes]
    parts += [f"#### `herald.sdk.http.{cls.__name__}`\n\n{markdown(cls.__doc__)}"
              for cls in (http.SendFailed, http.AnswerLost, http.BlockedURL, http.Unresolvable)]
    return "\n\n".join(parts)


def http_section() -> str:
    """``herald.sdk.http``: the one outbound HTTP client."""
    parts = [markdown(http.__doc__)]
    for function in (http.check_url, http.send, http.post, http.request):
        parts.append(f"#### `http.{signature(function)}`\n\n{markdown(function.__doc__)}")
    parts.append(f"#### `http.ConnectionPool`\n\n{markdown(http.ConnectionPool.__doc__)}")
    parts.append(f"#### `http.Response`\n\n{markdown(http.Response.__doc__)}")
    return "\n\n".join(parts)


def media_section() -> str:
    """``herald.sdk.media``: a post's media files as bytes."""
    parts = [markdown(media.__doc__),
             f"#### `media.{signature(media.read_media)}`\n\n{markdown(media.read_media.__doc__)}",
             f"#### `media.MediaMissing`\n\n{markdown(media.MediaMissing.__doc__)}"]
    return "\n\n".join(parts)


def hooks_section() -> str:
    """Every hook of :mod:`herald.hookspecs`, in the order it declares them."""
    parts = [markdown(hookspecs.__doc__)]
    for name, function in vars(hookspecs).items():
        if inspect.isfunction(function) and hasattr(function, "herald_spec"):
            parts.append(f"#### `{name}{inspect.signature(function)}`\n\n{markdown(function.__doc__)}")
    return "\n\n".join(parts)


SECTIONS: dict[str, Callable[[], str]] = {
    "sdk-platform": platform_section, "sdk-values": values_section, "sdk-settings": settings_section,
    "sdk-errors": errors_section, "sdk-http": http_section, "sdk-hooks": hooks_section,
    "sdk-media": media_section,
}
