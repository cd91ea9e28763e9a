"""Values plugins keep per workspace (``herald.workspace_values``): declared by a plugin, set and shown
through ``/api/settings``, secrets encrypted at rest, never seen by another workspace, gone with their
workspace; the AI provider is chosen by ``HERALD_AI_PROVIDER``; migration 0018 moves ``ai_setting``
rows into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from migration_support import database_migrated_to
from peewee import Table
from test_ids_never_reused import bound

from conftest import assert_error
from fakes.gemini import API_KEY
from herald import ai, crypto, workspace_values
from herald.config import Config
from herald.db.migrate import runner
from herald.db.models import Workspace, WorkspaceValue, db
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager
from herald.runtime import Runtime
from herald.sdk import AIProvider, Generation, WorkspaceSetting, hookimpl
from herald.upgrading import upgrade

TOKEN = "acme-token-0123456789"


class AcmeProvider(AIProvider):
    """An AI provider whose plugin declares a secret token and a tone, and no API key."""

    name = "acme"

    def generate(self, prompt, *, system=None, schema=None, settings):
        return Generation(text=f"{settings.values['tone'] or 'plain'}: {prompt}", data=None)


class AcmePlugin:
    """A throwaway plugin declaring two workspace values."""

    TOKEN = WorkspaceSetting(name="token", field="acme_token", secret=True, meaning="Acme's access token.",
                             schema={"maxLength": 60})
    TONE = WorkspaceSetting(name="tone", field="acme_tone", default="friendly", meaning="The tone Acme writes in.",
                            schema={"pattern": "^(friendly|formal)$", "errorMessage": "must be friendly or formal."})

    @hookimpl
    def register_workspace_settings(self, register):
        register(self.TOKEN)
        register(self.TONE)

    @hookimpl
    def register_ai_providers(self, register):
        register(AcmeProvider())


@pytest.fixture
def acme():
    pm = get_plugin_manager()
    pm.register(AcmePlugin(), name="acme")
    yield
    pm.unregister(name="acme")


def settings_of(client, tenant) -> dict:
    response = client.get("/api/settings", headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["settings"]


def test_a_plugins_declared_values_are_set_shown_and_kept_per_workspace(acme, build_app, tenant, make_tenant, config):
    client = build_app(ai_provider="gemini").test_client()
    shown = settings_of(client, tenant)
    assert {key: shown[key] for key in ("acme_token", "acme_token_set", "acme_tone", "acme_tone_is_default")} == {
        "acme_token": None, "acme_token_set": False, "acme_tone": "friendly", "acme_tone_is_default": True}
    assert shown["ai_provider"] == "gemini" and "gemini_api_key" in shown  # both plugins' fields

    response = client.put("/api/settings", json={"acme_token": f"  {TOKEN} ", "acme_tone": "formal"},
                          headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    shown = response.get_json()["settings"]
    assert (shown["acme_token"], shown["acme_token_set"], shown["acme_tone"], shown["acme_tone_is_default"]) == (
        "acme…6789", True, "formal", False)
    assert "warnings" not in response.get_json()  # not the AI provider's key: nothing to check
    with db.connection_context():
        token = WorkspaceValue.get(WorkspaceValue.name == "token")
        tone = WorkspaceValue.get(WorkspaceValue.name == "tone")
    assert (token.workspace_id, token.plugin, token.value) == (tenant.workspace.id, "acme", None)
    assert TOKEN not in token.value_encrypted and crypto.decrypt(config.secret_key, token.value_encrypted) == TOKEN
    assert (tone.value, tone.value_encrypted) == ("formal", None)

    other = make_tenant("Other")
    assert settings_of(client, other)["acme_token"] is None and settings_of(client, other)["acme_tone"] == "friendly"
    assert settings_of(client, tenant)["acme_token"] == "acme…6789"  # still there after another looked

    cleared = client.put("/api/settings", json={"acme_token": None, "acme_tone": None}, headers=tenant.headers)
    shown = cleared.get_json()["settings"]
    assert (shown["acme_token_set"], shown["acme_tone"], shown["acme_tone_is_default"]) == (False, "friendly", True)


def test_undeclared_and_invalid_fields_are_refused(acme, build_app, tenant):
    client = build_app().test_client()
    assert_error(client.put("/api/settings", json={"acme_colour": "red"}, headers=tenant.headers), 400,
                 "validation_error", "acme_colour")
    error = assert_error(client.put("/api/settings", json={"acme_tone": "shouty"}, headers=tenant.headers), 400,
                         "validation_error", "acme_tone")
    assert error["message"] == "acme_tone must be friendly or formal."
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]["settings_update"]
    assert schema["properties"]["acme_token"]["description"] == "Acme's access token."


def test_a_workspaces_values_go_with_it(acme, build_app, tenant, make_tenant):
    client = build_app().test_client()
    other = make_tenant("Other")
    for who in (tenant, other):
        assert client.put("/api/settings", json={"acme_token": TOKEN}, headers=who.headers).status_code == 200
    with db.connection_context():
        Workspace.delete().where(Workspace.id == tenant.workspace.id).execute()
        assert [row.workspace_id for row in WorkspaceValue.select()] == [other.workspace.id]


def test_herald_ai_provider_picks_the_provider_and_a_typo_stops_start_up(acme, build_app, tenant, config, clock):
    # acme comes first by name; its plugin declares no API key, so it needs none.
    application = build_app()
    runtime = application.extensions["herald"]
    with application.app_context(), db.connection_context():
        assert ai.provider_for(runtime, tenant.workspace.id).obj.name == "acme"
        # nothing stored: None, and the provider applies its default (as ProviderSettings.model)
        assert ai.generate(runtime, tenant.workspace.id, feature="test", prompt="Hi").text == "plain: Hi"
    assert application.test_client().put("/api/settings", json={"acme_tone": "formal"},
                                         headers=tenant.headers).status_code == 200
    with application.app_context(), db.connection_context():
        assert ai.generate(runtime, tenant.workspace.id, feature="test", prompt="Hi").text == "formal: Hi"
    gemini_first = build_app(ai_provider="gemini")
    with db.connection_context():
        assert ai.provider_for(gemini_first.extensions["herald"], tenant.workspace.id).obj.name == "gemini"
    assert settings_of(gemini_first.test_client(), tenant)["ai_provider"] == "gemini"

    with pytest.raises(PluginError) as caught:
        Runtime.build(dataclasses.replace(config, ai_provider="gemeni"), clock=clock)
    assert str(caught.value) == ("HERALD_AI_PROVIDER='gemeni' names no loaded AI provider (loaded: acme, gemini). "
                                 "Set it to a loaded provider's name, or unset it to use the only (or first) one.")
    assert Config.from_env({"HERALD_AI_PROVIDER": "acme"}).ai_provider == "acme"


def test_two_plugins_declaring_one_field_stop_start_up(acme):
    class Copycat:
        @hookimpl
        def register_workspace_settings(self, register):
            register(WorkspaceSetting(name="key", field="acme_token", secret=True, meaning="Not Acme's."))

    pm = get_plugin_manager()
    pm.register(Copycat(), name="copycat")
    try:
        with pytest.raises(PluginError, match="workspace setting 'acme_token' is registered twice"):
            PluginRegistry(pm)
    finally:
        pm.unregister(name="copycat")


def test_a_declaration_says_what_is_wrong_with_it():
    with pytest.raises(ValueError, match="field is lower case"):
        WorkspaceSetting(name="key", field="Acme-Key", meaning="x")
    with pytest.raises(ValueError, match="'updated_at' is a field of GET /api/settings"):
        WorkspaceSetting(name="key", field="updated_at", meaning="x")
    with pytest.raises(ValueError, match="cannot have a default"):
        WorkspaceSetting(name="key", field="acme_key", secret=True, default="k", meaning="x")


# -- migration 0018: ai_setting rows move into the store ----------------------------------------------------

SECRET_KEY = "migration-secret-key"
THEN = dt.datetime(2026, 6, 1, 9, 0, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0017(request, tmp_path):
    """A database migrated to 0017 (SQLite, or a PostgreSQL database of its own when HERALD_TEST_POSTGRES is set)."""
    yield from database_migrated_to(request.param, tmp_path, "0017_background_jobs_by_kind")


def fill_ai_settings(database) -> dict[str, int]:
    """Workspaces with ``ai_setting`` rows as the old code stored them: a key and a model, a key only,
    a row whose key was cleared, and one without a row; their ids by what they hold."""
    old = Table("ai_setting", ("id", "workspace_id", "gemini_api_key", "gemini_model", "updated_at"))
    ciphertext = crypto.encrypt(SECRET_KEY, API_KEY)
    stored = {"key_and_model": (ciphertext, "gemini-2.5-pro"), "key_only": (ciphertext, None), "cleared": (None, None)}
    ids = {}
    with bound(database):
        for what, (key, model) in stored.items():
            ids[what] = Workspace.create(name=what).id
            old.insert(workspace_id=ids[what], gemini_api_key=key, gemini_model=model,
                       updated_at=THEN).execute(database)
        ids["nothing"] = Workspace.create(name="nothing").id
    return ids


def shown_settings(database, workspace_id) -> dict:
    """What GET /api/settings shows of the workspace's Gemini values, read from ``database``."""
    registry = PluginRegistry(get_plugin_manager())
    with bound(database):
        shown = workspace_values.serialize(Config(secret_key=SECRET_KEY), workspace_id, registry)
    return {key: value for key, value in shown.items() if key.startswith("gemini_") or key == "updated_at"}


def test_migration_moves_every_ai_setting_into_the_store(database_at_0017):
    database = database_at_0017
    ids = fill_ai_settings(database)
    assert upgrade(database)[0] == "0018_workspace_values"
    with database.connection_context():
        assert "ai_setting" not in database.get_tables()
    assert shown_settings(database, ids["key_and_model"]) == {
        "gemini_api_key": "AIza…x9Q2", "gemini_api_key_set": True, "gemini_model": "gemini-2.5-pro",
        "gemini_model_is_default": False, "updated_at": "2026-06-01T09:00:00Z"}
    assert shown_settings(database, ids["key_only"]) == {
        "gemini_api_key": "AIza…x9Q2", "gemini_api_key_set": True, "gemini_model": "gemini-flash-latest",
        "gemini_model_is_default": True, "updated_at": "2026-06-01T09:00:00Z"}
    assert shown_settings(database, ids["cleared"])["gemini_api_key_set"] is False
    assert shown_settings(database, ids["nothing"])["updated_at"] is None
    with bound(database):
        key = WorkspaceValue.get((WorkspaceValue.workspace == ids["key_only"]) & (WorkspaceValue.name == "api_key"))
        assert (key.plugin, key.value) == ("gemini", None) and API_KEY not in key.value_encrypted
        assert crypto.decrypt(SECRET_KEY, key.value_encrypted) == API_KEY


def test_migration_moves_the_values_back_down(database_at_0017):
    database = database_at_0017
    ids = fill_ai_settings(database)
    upgrade(database)
    with database.connection_context():
        runner(database).down("0018_workspace_values")
        assert "workspace_value" not in database.get_tables()
        old = Table("ai_setting", ("workspace_id", "gemini_api_key", "gemini_model", "updated_at")).bind(database)
        rows = {row["workspace_id"]: row for row in old.select().dicts()}
    assert set(rows) == {ids["key_and_model"], ids["key_only"], ids["cleared"]}
    assert crypto.decrypt(SECRET_KEY, rows[ids["key_and_model"]]["gemini_api_key"]) == API_KEY
    assert rows[ids["key_and_model"]]["gemini_model"] == "gemini-2.5-pro"
    assert rows[ids["key_only"]]["gemini_model"] is None and rows[ids["cleared"]]["gemini_api_key"] is None
