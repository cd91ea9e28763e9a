"""Per-workspace AI settings: the Gemini API key (stored encrypted, shown masked) and the model."""

from __future__ import annotations

from typing import Any

from .. import crypto
from ..capabilities import provided
from ..config import Config
from ..db.models import AISetting, isoformat, write_transaction
from ..errors import warning
from ..runtime import Runtime
from .provider import SETTINGS_HINT, AIUnavailable, NoApiKey, ProviderSettings


def mask(key: str) -> str:
    """``AIza…x9Q2``: enough of a key to recognise it, too little to use it."""
    if len(key) < 12:
        return "…" + key[-2:]
    return f"{key[:4]}…{key[-4:]}"


def load(workspace_id: int) -> AISetting | None:
    """The workspace's settings row (None until something was set)."""
    return AISetting.get_or_none(AISetting.workspace == workspace_id)


def _decrypt(config: Config, row: AISetting | None) -> str | None:
    if row is None or not row.gemini_api_key:
        return None
    try:
        return crypto.decrypt(config.resolved_secret_key(), row.gemini_api_key)
    except crypto.InvalidToken:
        raise NoApiKey("The stored Gemini API key cannot be read any more (the server's secret key changed). "
                       f"Add it again with {SETTINGS_HINT} {{\"gemini_api_key\": \"…\"}}.",
                       field="gemini_api_key") from None


def provider_settings(workspace_id: int, config: Config, provider_name: str) -> ProviderSettings:
    """What the provider needs to answer for the workspace; 400 ``no_api_key`` without a key."""
    row = load(workspace_id)
    key = _decrypt(config, row)
    if not key:
        raise NoApiKey(f"AI features need the workspace's API key for {provider_name}, and none is stored. An admin "
                       f"adds it with {SETTINGS_HINT} {{\"gemini_api_key\": \"…\"}} (scope admin).",
                       field="gemini_api_key")
    return ProviderSettings(api_key=key, model=row.gemini_model, config=config)


def has_api_key(workspace_id: int) -> bool:
    """Whether a key is stored (without decrypting it)."""
    row = load(workspace_id)
    return bool(row and row.gemini_api_key)


def check(workspace_id: int, config: Config, payload: dict[str, Any], provider) -> list[dict]:
    """Ask ``provider`` whether the key and model ``payload`` puts in effect work, before anything is stored.

    Checked when the payload sets a key, or changes the model while a key is stored; the provider's
    ``check_settings(settings)`` (optional: providers without it are not asked) raises
    ``invalid_api_key`` or a ``validation_error`` on ``gemini_model``, which the caller lets through
    so nothing is stored. When the provider cannot be reached, the settings are stored anyway and
    a warning is returned: a user briefly offline from Google should not be kept from saving a key.
    """
    check_settings = provided(provider, "check_settings")
    row = load(workspace_id)
    if check_settings is None:
        return []
    if "gemini_api_key" in payload:
        key = (payload["gemini_api_key"] or "").strip()
    elif "gemini_model" in payload:
        try:
            key = _decrypt(config, row)
        except NoApiKey:
            key = None  # unreadable: the next AI call says so
    else:
        key = None
    if not key:
        return []  # a key removed, or a model chosen before any key: nothing to ask about
    if "gemini_model" in payload:
        model = (payload["gemini_model"] or "").strip() or None
    else:
        model = row.gemini_model if row is not None else None
    try:
        check_settings(ProviderSettings(api_key=key, model=model, config=config))
    except AIUnavailable as exc:
        return [warning("key_not_checked", f"{exc.message} The settings were stored unchecked; an AI request will "
                                           "tell if the key is refused (invalid_api_key).")]
    return []


def update(runtime: Runtime, workspace_id: int, payload: dict[str, Any]) -> AISetting:
    """Apply ``payload``: a field that is absent stays as it is, ``null`` clears it."""
    changes: dict[str, Any] = {}
    if "gemini_api_key" in payload:
        key = (payload["gemini_api_key"] or "").strip()
        changes["gemini_api_key"] = crypto.encrypt(runtime.config.resolved_secret_key(), key) if key else None
    if "gemini_model" in payload:
        changes["gemini_model"] = (payload["gemini_model"] or "").strip() or None
    now = runtime.clock.now()
    with write_transaction():
        # Insert-or-ignore first, so two first-time PUTs cannot both try to create the row.
        AISetting.insert(workspace=workspace_id, updated_at=now).on_conflict_ignore().execute()
        AISetting.update({**{getattr(AISetting, name): value for name, value in changes.items()},
                          AISetting.updated_at: now}).where(AISetting.workspace == workspace_id).execute()
    return load(workspace_id)


def serialize(row: AISetting | None, config: Config, provider_name: str | None, default_model: str | None) -> dict:
    """The JSON shape of the settings: the key masked, the model with its default filled in."""
    key = None
    if row is not None and row.gemini_api_key:
        try:
            key = mask(crypto.decrypt(config.resolved_secret_key(), row.gemini_api_key))
        except crypto.InvalidToken:
            key = "(unreadable: add the key again)"
    model = row.gemini_model if row is not None else None
    return {
        "ai_provider": provider_name,
        "gemini_api_key": key,
        "gemini_api_key_set": key is not None,
        "gemini_model": model or default_model,
        "gemini_model_is_default": model is None,
        "updated_at": isoformat(row.updated_at) if row is not None else None,
    }
