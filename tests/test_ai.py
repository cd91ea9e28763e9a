"""The AI foundation: settings, ``herald.ai.generate`` with usage accounting and plan limits, the
usage and plan endpoints, and background jobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest

from ai_drive import record_generations, set_key
from conftest import assert_error
from drive import work
from fakes.gemini import API_KEY
from herald import ai, crypto, plugins
from herald import work as kernel
from herald.ai import background
from herald.ai.provider import NoApiKey
from herald.db.models import AIGeneration, BackgroundJob, WorkspaceValue, db, utcnow
from herald.default_plugins.work_kinds import BACKGROUND_JOBS
from herald.errors import HeraldError
from herald.plans import ai_usage
from herald.plans.limits import month_start


def generate(app, tenant, **kwargs):
    with app.app_context(), db.connection_context():
        return ai.generate(app.extensions["herald"], tenant.workspace.id, feature=kwargs.pop("feature", "test"),
                           prompt=kwargs.pop("prompt", "Hi"), **kwargs)


def rows(workspace_id):
    with db.connection_context():
        return list(AIGeneration.select().where(AIGeneration.workspace == workspace_id).order_by(AIGeneration.id))


# -- settings -----------------------------------------------------------------------------------------

def test_settings_start_empty_with_the_default_model(api, tenant):
    response = api.get("/api/settings", headers=tenant.headers)
    assert response.status_code == 200
    assert response.get_json()["settings"] == {
        "ai_provider": "gemini", "gemini_api_key": None, "gemini_api_key_set": False,
        "gemini_model": "gemini-flash-latest", "gemini_model_is_default": True, "updated_at": None}


def test_key_is_stored_encrypted_and_shown_masked(api, tenant, config):
    settings = set_key(api, tenant)
    assert settings["gemini_api_key"] == "AIza…x9Q2" and settings["gemini_api_key_set"] is True
    assert api.get("/api/settings", headers=tenant.headers).get_json()["settings"]["gemini_api_key"] == "AIza…x9Q2"
    with db.connection_context():
        row = WorkspaceValue.get((WorkspaceValue.workspace == tenant.workspace.id) & (WorkspaceValue.name == "api_key"))
    assert (row.plugin, row.value) == ("gemini", None)  # the plain column never holds a secret
    assert API_KEY not in row.value_encrypted and crypto.decrypt(config.secret_key, row.value_encrypted) == API_KEY


def test_model_can_be_set_and_reset_and_key_cleared(api, tenant):
    set_key(api, tenant, gemini_model="gemini-2.5-flash")
    settings = api.put("/api/settings", json={"gemini_model": None}, headers=tenant.headers).get_json()["settings"]
    assert settings["gemini_model"] == "gemini-flash-latest" and settings["gemini_model_is_default"] is True
    assert settings["gemini_api_key"] == "AIza…x9Q2"  # a field left out stays
    settings = api.put("/api/settings", json={"gemini_api_key": None}, headers=tenant.headers).get_json()["settings"]
    assert settings["gemini_api_key"] is None and settings["gemini_api_key_set"] is False


def test_settings_need_admin_and_valid_values(api, tenant, make_tenant):
    editor = make_tenant("Editors", scopes=["posts:read", "posts:write", "intelligence"])
    assert_error(api.get("/api/settings", headers=editor.headers), 403, "forbidden")
    assert_error(api.put("/api/settings", json={"gemini_api_key": "x"}, headers=editor.headers), 403, "forbidden")
    assert_error(api.put("/api/settings", json={"gemini_model": "../../etc"}, headers=tenant.headers), 400,
                 "validation_error", "gemini_model")
    assert_error(api.put("/api/settings", json={"gemini_api_key": "a b c"}, headers=tenant.headers), 400,
                 "validation_error", "gemini_api_key")
    assert_error(api.put("/api/settings", json={}, headers=tenant.headers), 400, "validation_error")


def test_settings_are_per_workspace(api, tenant, make_tenant):
    other = make_tenant("Other")
    set_key(api, tenant)
    assert api.get("/api/settings", headers=other.headers).get_json()["settings"]["gemini_api_key"] is None


# -- generate -----------------------------------------------------------------------------------------

def test_generate_records_a_succeeded_call_with_tokens(ai_app, api, tenant, gemini):
    set_key(api, tenant, gemini_model="gemini-2.5-flash")
    gemini.reply_json({"caption": "Hello"}, usage=(21, 17))
    schema = {"type": "object", "required": ["caption"], "properties": {"caption": {"type": "string"}}}
    result = generate(ai_app, tenant, feature="caption", schema=schema, system="Be brief.", client_id=tenant.client.id)
    assert (result.data, result.provider, result.model) == ({"caption": "Hello"}, "gemini", "gemini-2.5-flash")
    assert (result.input_tokens, result.output_tokens) == (21, 17)
    [row] = rows(tenant.workspace.id)
    assert (row.status, row.feature, row.provider, row.model, row.input_tokens, row.output_tokens, row.client_id) == (
        "succeeded", "caption", "gemini", "gemini-2.5-flash", 21, 17, tenant.client.id)
    assert gemini.requests[-1].model == "gemini-2.5-flash" and gemini.requests[-1].system == "Be brief."


def test_without_a_key_generate_is_no_api_key_and_nothing_is_recorded(ai_app, tenant, gemini):
    with pytest.raises(NoApiKey) as caught:
        generate(ai_app, tenant)
    assert caught.value.code == "no_api_key" and caught.value.status == 400
    assert caught.value.message == ("AI features need the workspace's API key for gemini, and none is stored. An "
                                    'admin adds it with PUT /api/settings {"gemini_api_key": "…"} (scope admin).')
    assert caught.value.field == "gemini_api_key"
    assert rows(tenant.workspace.id) == [] and gemini.requests == []


# -- when AI is not available: the message says what is missing and who fixes it how ----------------

def populate_hooks(api, tenant):
    return api.post("/api/intelligence/populate-hooks", json={"client_id": tenant.client.id}, headers=tenant.headers)


def test_gemini_disabled_for_the_workspace_says_how_to_enable_it(ai_app, api, tenant, gemini):
    set_key(api, tenant)
    assert api.put("/api/admin/plugins/gemini", json={"enabled": False}, headers=tenant.headers).status_code == 200
    error = assert_error(populate_hooks(api, tenant), 403, "feature_disabled", None)
    assert error["message"] == (
        "AI generation is provided by the plugin 'gemini', which is disabled for this workspace. An admin of the "
        'workspace enables it with PUT /api/admin/plugins/gemini {"enabled": true}; an operator with '
        f"`herald plugins enable {tenant.workspace.id} gemini`.")
    with pytest.raises(HeraldError) as caught:
        generate(ai_app, tenant)
    assert (caught.value.code, caught.value.status, caught.value.message) == ("feature_disabled", 403,
                                                                              error["message"])
    assert rows(tenant.workspace.id) == [] and gemini.generations == []
    # Doing what it says is enough.
    assert api.put("/api/admin/plugins/gemini", json={"enabled": True}, headers=tenant.headers).status_code == 200
    assert populate_hooks(api, tenant).status_code == 202


def test_a_key_saved_while_gemini_is_disabled_is_kept_with_a_warning(api, tenant, gemini):
    api.put("/api/admin/plugins/gemini", json={"enabled": False}, headers=tenant.headers)
    response = api.put("/api/settings", json={"gemini_api_key": API_KEY}, headers=tenant.headers)
    assert response.status_code == 200
    [warning] = response.get_json()["warnings"]
    assert warning["code"] == "key_not_checked"
    assert "disabled for this workspace" in warning["message"] and "stored unchecked" in warning["message"]
    assert response.get_json()["settings"]["gemini_api_key_set"] is True and gemini.requests == []


@pytest.fixture
def forget_managers():
    """Drop the plugin managers a test builds with HERALD_PLUGINS (they are cached per tuple for the process)."""
    before = set(plugins._managers)
    yield
    for key in set(plugins._managers) - before:
        plugins._managers.pop(key)


def test_gemini_left_out_by_herald_plugins_says_so(build_app, tenant, gemini, forget_managers):
    restricted = build_app(plugins=("instagram",), gemini_base_url=gemini.base_url)
    error = assert_error(populate_hooks(restricted.test_client(), tenant), 403, "feature_disabled", None)
    assert error["message"] == (
        "AI features need an AI provider plugin, and none is loaded on this server. The gemini plugin is installed "
        "but HERALD_PLUGINS leaves it out: an operator adds gemini to HERALD_PLUGINS (or unsets it to load every "
        "installed plugin) and restarts Herald.")
    with pytest.raises(HeraldError) as caught:
        generate(restricted, tenant)
    assert caught.value.message == error["message"]


class Registry:
    """What :func:`herald.ai.no_provider_message` asks of a registry: the left-out plugins providing AI."""

    def __init__(self, left_out):
        self._left_out = left_out

    def left_out_implementing(self, hook_name):
        assert hook_name == "register_ai_providers"
        return self._left_out


def test_without_any_ai_plugin_installed_the_message_says_to_install_one():
    assert ai.no_provider_message(Registry([])) == (
        "AI features need an AI provider plugin, and none is loaded on this server. An operator installs a "
        "distribution providing one (a Herald plugin implementing register_ai_providers) and restarts Herald; then "
        "an admin of the workspace adds the provider's API key with PUT /api/settings (GET /api/settings shows its "
        "fields).")
    assert ai.no_provider_message(Registry(["acme", "pigeon"])).endswith(
        "The plugins acme, pigeon are installed but HERALD_PLUGINS leaves them out: an operator adds one of them to "
        "HERALD_PLUGINS (or unsets it to load every installed plugin; HERALD_AI_PROVIDER picks one when several are "
        "loaded) and restarts Herald.")


def test_a_failed_call_is_recorded_with_its_error_and_costs_nothing(ai_app, api, tenant, gemini):
    set_key(api, tenant)
    gemini.block_prompt("SAFETY")
    with pytest.raises(HeraldError) as caught:
        generate(ai_app, tenant)
    assert caught.value.code == "ai_blocked"
    [row] = rows(tenant.workspace.id)
    assert row.status == "failed" and row.error.startswith("ai_blocked: ") and row.input_tokens > 0
    with db.connection_context():
        assert ai_usage.used_this_month(tenant.workspace.id, utcnow()) == 0


def test_free_plan_allows_the_50th_generation_and_refuses_the_51st(ai_app, api, tenant, gemini):
    set_key(api, tenant)
    record_generations(tenant.workspace.id, 49)
    record_generations(tenant.workspace.id, 5, status="failed")  # failures do not count
    record_generations(tenant.workspace.id, 30, when=month_start(utcnow()) - dt.timedelta(seconds=1))  # last month
    assert generate(ai_app, tenant).text  # the 50th
    with pytest.raises(HeraldError) as caught:
        generate(ai_app, tenant)  # the 51st
    error = caught.value
    assert (error.code, error.status) == ("plan_limit", 402)
    assert "all 50 AI generations" in error.message and "Upgrade to Pro for 500" in error.message
    assert len(gemini.generations) == 1  # the refused one never reached the provider
    assert api.get("/api/plan", headers=tenant.headers).get_json()["usage"]["ai_generations"] == 50


def test_pro_plan_allows_500(ai_app, api, make_tenant, gemini):
    pro = make_tenant("Pro agency", plan="pro")
    set_key(api, pro)
    record_generations(pro.workspace.id, 499)
    generate(ai_app, pro)
    with pytest.raises(HeraldError, match="all 500 AI generations"):
        generate(ai_app, pro)


def test_concurrent_reservations_cannot_overshoot_the_limit(ai_app, tenant):
    record_generations(tenant.workspace.id, 47)
    outcomes, barrier = [], threading.Barrier(8)

    def reserve():
        barrier.wait()
        with db.connection_context():
            try:
                outcomes.append(ai_usage.reserve(tenant.workspace.id, utcnow(), feature="t", provider="gemini",
                                                 model="m", client_id=None))
            except HeraldError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str).count("plan_limit") == 5
    assert len([o for o in outcomes if isinstance(o, int)]) == 3
    with db.connection_context():
        assert ai_usage.used_this_month(tenant.workspace.id, utcnow()) == 50


def test_a_stale_reservation_no_longer_holds_a_slot(ai_app, tenant):
    record_generations(tenant.workspace.id, 49)
    record_generations(tenant.workspace.id, 1, status="reserved", when=utcnow() - dt.timedelta(minutes=16))
    record_generations(tenant.workspace.id, 1, status="reserved")
    with db.connection_context():
        assert ai_usage.used_this_month(tenant.workspace.id, utcnow()) == 50


# -- usage and plan -----------------------------------------------------------------------------------

def test_ai_usage_reports_generations_and_tokens_by_day_feature_and_provider(api, tenant, make_tenant):
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    record_generations(tenant.workspace.id, 3, feature="populate_hooks", tokens=(100, 50), when=today)
    record_generations(tenant.workspace.id, 2, feature="analyze_competitor", tokens=(1000, 200),
                       when=today - dt.timedelta(days=2))
    record_generations(tenant.workspace.id, 1, feature="populate_hooks", status="failed", tokens=(40, 0), when=today)
    record_generations(tenant.workspace.id, 4, when=today - dt.timedelta(days=40))  # outside 30 days
    record_generations(make_tenant("Other").workspace.id, 7, when=today)  # another workspace
    body = api.get("/api/analytics/ai-usage", headers=tenant.headers).get_json()
    assert body["totals"] == {"generations": 5, "failed": 1, "input_tokens": 2340, "output_tokens": 550}
    assert body["period"]["days"] == 30 and len(body["by_day"]) == 30
    days = {entry["date"]: entry for entry in body["by_day"]}
    assert days[today.date().isoformat()] == {"date": today.date().isoformat(), "generations": 3, "failed": 1,
                                              "input_tokens": 340, "output_tokens": 150}
    assert days[(today - dt.timedelta(days=2)).date().isoformat()]["generations"] == 2
    assert body["by_feature"] == [
        {"feature": "analyze_competitor", "generations": 2, "failed": 0, "input_tokens": 2000, "output_tokens": 400},
        {"feature": "populate_hooks", "generations": 3, "failed": 1, "input_tokens": 340, "output_tokens": 150}]
    assert body["by_provider"] == [{"provider": "gemini", "model": "gemini-flash-latest", "generations": 5,
                                    "failed": 1, "input_tokens": 2340, "output_tokens": 550}]
    assert body["this_month"]["limit"] == 50 and body["this_month"]["plan"] == "free"
    week = api.get("/api/analytics/ai-usage?period=1", headers=tenant.headers).get_json()
    assert week["totals"]["generations"] == 3 and len(week["by_day"]) == 1
    assert_error(api.get("/api/analytics/ai-usage?period=0", headers=tenant.headers), 400, "validation_error", "period")


def test_plan_reports_ai_generations_against_the_limit(api, tenant):
    record_generations(tenant.workspace.id, 12)
    record_generations(tenant.workspace.id, 3, status="failed")
    body = api.get("/api/plan", headers=tenant.headers).get_json()
    assert body["usage"]["ai_generations"] == 12 and body["limits"]["ai_generations_per_month"] == 50


# -- background jobs ----------------------------------------------------------------------------------

def echo_job(runtime, *, workspace_id, job_id, value):
    """A job that reports what it saw of itself while running."""
    seen = BackgroundJob.get_by_id(job_id)
    return {"value": value, "status_while_running": seen.status, "workspace_id": workspace_id}


def refusing_job(runtime, *, workspace_id, job_id):
    """A job that fails the way features do."""
    raise HeraldError("The page could not be read.", code="fetch_failed")


def crashing_job(runtime, *, workspace_id, job_id):
    """A job with a bug."""
    raise ZeroDivisionError("boom")


@pytest.fixture
def test_jobs(ai_app, monkeypatch):
    """The ``background`` kind with this module's jobs beside the core's (kinds ``echo``, ``refusing``,
    ``crashing``), as a plugin registering the kind with them would have it."""
    kinds = ai_app.extensions["herald"].registry.work_kinds
    functions = {**BACKGROUND_JOBS, "echo": echo_job, "refusing": refusing_job, "crashing": crashing_job}
    monkeypatch.setitem(kinds, "background", dataclasses.replace(kinds["background"],
                                                                 obj=background.work_kind(functions)))


def start_job(app, tenant, kind, **kwargs):
    with app.app_context(), db.connection_context():
        return background.start(app.extensions["herald"], tenant.workspace.id, kind, **kwargs).id


def test_job_goes_from_queued_to_running_to_succeeded(ai_app, api, tenant, redis_client, test_jobs):
    job_id = start_job(ai_app, tenant, "echo", value=42)
    assert job_id.startswith("job_")
    queued = api.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]
    assert (queued["status"], queued["result"], queued["started_at"], queued["kind"]) == ("queued", None, None, "echo")
    assert work(redis_client) == 1
    done = api.get(f"/api/jobs/{job_id}", headers=tenant.headers).get_json()["job"]
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["result"] == {"value": 42, "status_while_running": "running", "workspace_id": tenant.workspace.id}
    assert done["started_at"] and done["finished_at"]


def test_job_failures_keep_their_code_and_bugs_are_internal_errors(ai_app, api, tenant, redis_client, test_jobs):
    refused = start_job(ai_app, tenant, "refusing")
    crashed = start_job(ai_app, tenant, "crashing")
    work(redis_client)
    job = api.get(f"/api/jobs/{refused}", headers=tenant.headers).get_json()["job"]
    assert job["status"] == "failed" and job["error"] == {"code": "fetch_failed",
                                                          "message": "The page could not be read."}
    job = api.get(f"/api/jobs/{crashed}", headers=tenant.headers).get_json()["job"]
    assert job["status"] == "failed" and job["error"]["code"] == "internal_error" and crashed in job["error"]["message"]


def test_another_workspaces_job_is_404(ai_app, api, tenant, make_tenant, test_jobs):
    job_id = start_job(ai_app, tenant, "echo", value=1)
    other = make_tenant("Other")
    assert_error(api.get(f"/api/jobs/{job_id}", headers=other.headers), 404, "not_found")
    assert_error(api.get("/api/jobs/job_unknown", headers=tenant.headers), 404, "not_found")


def test_migrated_ai_tables_match_the_models(app):
    from herald.db.models import (
        AIGeneration,
        BackgroundJob,
        CompetitorAnalysis,
        DesignTemplate,
        GeneratedOpener,
    )

    with db.connection_context():
        for model in (WorkspaceValue, AIGeneration, BackgroundJob, GeneratedOpener, CompetitorAnalysis, DesignTemplate):
            columns = {column.name: column for column in db.get_columns(model._meta.table_name)}
            assert set(columns) == {field.column_name for field in model._meta.sorted_fields}, model
            for field in model._meta.sorted_fields:
                assert columns[field.column_name].null == field.null, (model, field.name)
            unique = {tuple(index.columns) for index in db.get_indexes(model._meta.table_name) if index.unique}
            for entry in model._meta.indexes:
                if not isinstance(entry, tuple):
                    continue  # a partial index declared with add_index (active rows by due time): test_schema
                fields, is_unique = entry
                wanted = tuple(model._meta.fields[name].column_name for name in fields)
                assert (wanted in unique) == is_unique, (model, fields)


def test_a_job_whose_kind_no_code_runs_any_more_fails_saying_so(ai_app, api, tenant, redis_client):
    runtime = ai_app.extensions["herald"]
    with ai_app.app_context(), db.connection_context():
        job = BackgroundJob.create(id="job_of_a_removed_plugin", workspace=tenant.workspace.id, kind="retired",
                                   status="queued")
        assert kernel.enqueue(runtime, kernel.kind(runtime, "background"), job)
    assert work(redis_client) == 1
    failed = api.get(f"/api/jobs/{job.id}", headers=tenant.headers).get_json()["job"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "unknown_job_kind"
    assert "'retired'" in failed["error"]["message"]
