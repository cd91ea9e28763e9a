"""Values plugins keep per workspace: an AI provider's API key and model, any plugin's token.

A plugin declares each value with :class:`herald.settings.WorkspaceSetting` (hook
``register_workspace_settings``); a workspace's admins set them with ``PUT /api/settings`` and see
them with ``GET /api/settings``. One table holds them all (``workspace_value``: workspace, plugin,
name), a secret only encrypted with the server's secret key (:mod:`herald.crypto`) and only ever
shown masked. The core names no plugin's value: everything here follows the declarations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import crypto
from .config import Config
from .db.models import WorkspaceValue, isoformat, write_transaction
from .settings import WorkspaceSetting

UNREADABLE = "(unreadable: add the key again)"


@dataclasses.dataclass(frozen=True)
class Change:
    """A value to store: the declaring plugin, the declaration, and the text (None clears it)."""

    plugin: str
    setting: WorkspaceSetting
    text: str | None


def mask(secret: str) -> str:
    """``AIza…x9Q2``: enough of a secret to recognise it, too little to use it."""
    if len(secret) < 12:
        return "…" + secret[-2:]
    return f"{secret[:4]}…{secret[-4:]}"


def load(workspace_id: int, plugin: str | None = None) -> dict[tuple[str, str], WorkspaceValue]:
    """The workspace's stored values (of ``plugin`` only, when given), by ``(plugin, name)``."""
    query = WorkspaceValue.select().where(WorkspaceValue.workspace == workspace_id)
    if plugin is not None:
        query = query.where(WorkspaceValue.plugin == plugin)
    return {(row.plugin, row.name): row for row in query}


def reveal(config: Config, row: WorkspaceValue | None, setting: WorkspaceSetting) -> str | None:
    """The stored text (a secret decrypted); None when nothing is stored. Raises
    ``crypto.InvalidToken`` when a secret cannot be decrypted (the server's secret key changed)."""
    if row is None:
        return None
    if setting.secret:
        return crypto.decrypt(config.resolved_secret_key(), row.value_encrypted) if row.value_encrypted else None
    return row.value


def is_set(row: WorkspaceValue | None) -> bool:
    """Whether ``row`` holds a value (without decrypting it)."""
    return row is not None and bool(row.value_encrypted or row.value)


def changes(registry: Any, payload: dict[str, Any]) -> list[Change]:
    """The declared fields ``payload`` sets, their text trimmed (``""`` and null clear a value).

    The body was validated against ``settings_update``, whose properties are the declared fields.
    """
    found = []
    for field, value in payload.items():
        registered = registry.workspace_settings[field]
        found.append(Change(registered.plugin, registered.obj, (value or "").strip() or None))
    return found


def store(config: Config, workspace_id: int, wanted: list[Change], now) -> None:
    """Write ``wanted`` at ``now`` (the runtime's clock) in one transaction, secrets encrypted."""
    secret_key = config.resolved_secret_key()
    with write_transaction():
        for change in wanted:
            plain, encrypted = change.text, None
            if change.setting.secret and change.text is not None:
                plain, encrypted = None, crypto.encrypt(secret_key, change.text)
            (WorkspaceValue.insert(workspace=workspace_id, plugin=change.plugin, name=change.setting.name,
                                   value=plain, value_encrypted=encrypted, updated_at=now)
             .on_conflict(conflict_target=[WorkspaceValue.workspace, WorkspaceValue.plugin, WorkspaceValue.name],
                          update={WorkspaceValue.value: plain, WorkspaceValue.value_encrypted: encrypted,
                                  WorkspaceValue.updated_at: now})
             .execute())


def serialize(config: Config, workspace_id: int, registry: Any) -> dict[str, Any]:
    """Every declared field as ``GET /api/settings`` shows it, and ``updated_at`` (the latest change).

    A secret is masked, with ``<field>_set``; any other value is shown as stored, or its default
    with ``<field>_is_default``.
    """
    rows = load(workspace_id)
    shown: dict[str, Any] = {}
    latest = None
    for field, registered in sorted(registry.workspace_settings.items()):
        setting = registered.obj
        row = rows.get((registered.plugin, setting.name))
        if row is not None:
            latest = row.updated_at if latest is None else max(latest, row.updated_at)
        if setting.secret:
            try:
                text = reveal(config, row, setting)
            except crypto.InvalidToken:
                text = None
                shown[field] = UNREADABLE
            else:
                shown[field] = mask(text) if text else None
            shown[f"{field}_set"] = is_set(row)
        else:
            text = reveal(config, row, setting)
            shown[field] = text if text is not None else setting.default
            shown[f"{field}_is_default"] = text is None
    shown["updated_at"] = isoformat(latest)
    return shown


def settings_schema(registry: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """``PUT /api/settings``'s schema: ``frame`` (``schemas/settings_update.json``) with a property
    for each declared field, so an undeclared one is still refused."""
    properties = {field: registered.obj.property_schema()
                  for field, registered in sorted(registry.workspace_settings.items())}
    return {**frame, "properties": properties}


def answer_schema(registry: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """``GET``/``PUT /api/settings``'s answer schema: ``frame`` (``schemas/responses/settings.json``) with
    the fields :func:`serialize` shows for each declared setting."""
    fields: dict[str, Any] = {}
    required: list[str] = []
    for field, registered in sorted(registry.workspace_settings.items()):
        flag = f"{field}_set" if registered.obj.secret else f"{field}_is_default"
        fields[field] = {"type": ["string", "null"], "description": registered.obj.meaning}
        fields[flag] = {"type": "boolean"}
        required += [field, flag]
    settings = frame["properties"]["settings"]
    settings = {**settings, "properties": {**settings["properties"], **fields},
                "required": [*settings["required"], *required]}
    return {**frame, "properties": {**frame["properties"], "settings": settings}}
