"""The AI provider's per-workspace values: what its plugin declares (``herald.settings.WorkspaceSetting``),
its API key (``api_key``, secret) and model (``model``) above all, kept by :mod:`herald.workspace_values`."""

from __future__ import annotations

from typing import Any

from .. import crypto, workspace_values
from ..capabilities import provided
from ..errors import warning
from ..plugins import Registered
from ..runtime import Runtime
from .provider import SETTINGS_HINT, AIUnavailable, NoApiKey, ProviderSettings

API_KEY = "api_key"
MODEL = "model"


def provider_settings(runtime: Runtime, workspace_id: int, registered: Registered) -> ProviderSettings:
    """What the provider needs to answer for the workspace; 400 ``no_api_key`` when its plugin declares
    an API key and the workspace stored none (or one that can no longer be read)."""
    declared = runtime.registry.workspace_settings_of(registered.plugin)
    stored = workspace_values.load(workspace_id, registered.plugin)
    provider_name = registered.obj.name
    values: dict[str, str | None] = {}
    for name, setting in declared.items():
        try:
            values[name] = workspace_values.reveal(runtime.config, stored.get((registered.plugin, name)), setting)
        except crypto.InvalidToken:
            if name == API_KEY:
                raise NoApiKey(f"The stored API key for {provider_name} cannot be read any more (the server's "
                               f"secret key changed). Add it again with {SETTINGS_HINT} "
                               f"{{\"{setting.field}\": \"…\"}}.", field=setting.field) from None
            values[name] = None
    key_setting = declared.get(API_KEY)
    if key_setting is not None and not values.get(API_KEY):
        raise NoApiKey(f"AI features need the workspace's API key for {provider_name}, and none is stored. An admin "
                       f"adds it with {SETTINGS_HINT} {{\"{key_setting.field}\": \"…\"}} (scope admin).",
                       field=key_setting.field)
    return ProviderSettings(api_key=values.get(API_KEY), model=values.get(MODEL), config=runtime.config,
                            values=values)


def check(runtime: Runtime, workspace_id: int, payload: dict[str, Any], registered: Registered | None) -> list[dict]:
    """Ask the provider whether the key and model ``payload`` puts in effect work, before anything is stored.

    Checked when the payload sets the provider's key, or changes its model while a key is stored;
    the provider's ``check_settings(settings)`` (optional: providers without it are not asked) raises
    ``invalid_api_key`` or a ``validation_error`` on the model's field, which the caller lets through
    so nothing is stored. When the provider cannot be reached, the settings are stored anyway and a
    warning is returned: a user briefly offline from the provider should not be kept from saving a key.
    """
    check_settings = provided(registered.obj, "check_settings") if registered is not None else None
    if check_settings is None:
        return []
    declared = runtime.registry.workspace_settings_of(registered.plugin)
    key_setting, model_setting = declared.get(API_KEY), declared.get(MODEL)
    sets_key = key_setting is not None and key_setting.field in payload
    sets_model = model_setting is not None and model_setting.field in payload
    if not sets_key and not sets_model:
        return []
    try:
        stored = provider_settings(runtime, workspace_id, registered)
    except NoApiKey:
        stored = None  # none yet, or unreadable: the next AI call says so
    stored_key = stored.api_key if stored is not None else None
    key = (payload[key_setting.field] or "").strip() if sets_key else stored_key
    if key_setting is not None and not key:
        return []  # a key removed, or a model chosen before any key: nothing to ask about
    stored_model = stored.model if stored is not None else None
    model = ((payload[model_setting.field] or "").strip() or None) if sets_model else stored_model
    values = {**(stored.values if stored is not None else {}), API_KEY: key or None, MODEL: model}
    try:
        check_settings(ProviderSettings(api_key=key or None, model=model, config=runtime.config, values=values))
    except AIUnavailable as exc:
        return [warning("key_not_checked", f"{exc.message} The settings were stored unchecked; an AI request will "
                                           "tell if the key is refused (invalid_api_key).")]
    return []


def sets_secret(runtime: Runtime, registered: Registered | None, payload: dict[str, Any]) -> bool:
    """Whether ``payload`` sets (not clears) a secret value the provider's plugin declared."""
    if registered is None:
        return False
    return any(setting.secret and (payload.get(setting.field) or "").strip()
               for setting in runtime.registry.workspace_settings_of(registered.plugin).values())
