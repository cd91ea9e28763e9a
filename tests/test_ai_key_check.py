"""``PUT /api/settings`` asks Gemini (``models.get`` at the fake, no generation) whether a new key
works and the model exists before storing anything."""

from __future__ import annotations

from ai_drive import set_key
from conftest import assert_error
from fakes.gemini import API_KEY
from herald import workspace_values
from herald.db.models import AIGeneration, db


def stored(tenant, name):
    """The workspace's stored Gemini value ``name`` (``api_key``, ``model``), or None."""
    with db.connection_context():
        return workspace_values.load(tenant.workspace.id, "gemini").get(("gemini", name))


def test_a_working_key_is_checked_with_models_get_and_stored(api, tenant, gemini):
    settings = set_key(api, tenant)
    assert settings["gemini_api_key"] == "AIza…x9Q2"
    [check] = gemini.requests
    assert (check.method, check.model, check.key, check.status) == ("GET", "gemini-flash-latest", API_KEY, 200)
    assert gemini.generations == []
    with db.connection_context():
        assert AIGeneration.select().count() == 0  # a check is not a generation: nothing counted


def test_a_refused_key_is_400_invalid_api_key_and_nothing_is_stored(api, tenant, gemini):
    set_key(api, tenant)
    response = api.put("/api/settings", json={"gemini_api_key": "AIzaWRONGkey000000"}, headers=tenant.headers)
    error = assert_error(response, 400, "invalid_api_key", "gemini_api_key")
    assert "API key not valid" in error["message"] and "nothing was stored" in error["message"]
    assert gemini.requests[-1].key == "AIzaWRONGkey000000" and gemini.requests[-1].status == 400
    settings = api.get("/api/settings", headers=tenant.headers).get_json()["settings"]
    assert settings["gemini_api_key"] == "AIza…x9Q2"  # the previous key is kept


def test_a_first_refused_key_stores_nothing(api, tenant, gemini):
    body = {"gemini_api_key": "AIzaWRONGkey000000", "gemini_model": "gemini-2.5-pro"}
    assert_error(api.put("/api/settings", json=body, headers=tenant.headers), 400, "invalid_api_key", "gemini_api_key")
    assert stored(tenant, "api_key") is None and stored(tenant, "model") is None


def test_an_unknown_model_is_400_naming_it(api, tenant, gemini):
    error = assert_error(api.put("/api/settings", json={"gemini_api_key": API_KEY, "gemini_model": "gemini-0-unknown"},
                                 headers=tenant.headers), 400, "validation_error", "gemini_model")
    assert "'gemini-0-unknown'" in error["message"] and "(the default)" not in error["message"]
    assert gemini.requests[-1].model == "gemini-0-unknown"
    assert stored(tenant, "api_key") is None and stored(tenant, "model") is None


def test_the_default_model_must_exist_too(api, tenant, gemini):
    gemini.unknown_models.add("gemini-flash-latest")  # Google retired the alias
    error = assert_error(api.put("/api/settings", json={"gemini_api_key": API_KEY}, headers=tenant.headers), 400,
                         "validation_error", "gemini_model")
    assert "'gemini-flash-latest' (the default)" in error["message"] and "gemini_model" in error["message"]
    set_key(api, tenant, gemini_model="gemini-2.5-flash")  # choosing another model is the fix
    assert gemini.requests[-1].model == "gemini-2.5-flash"


def test_changing_only_the_model_checks_it_with_the_stored_key(api, tenant, gemini):
    set_key(api, tenant)
    assert_error(api.put("/api/settings", json={"gemini_model": "gemini-0-unknown"}, headers=tenant.headers), 400,
                 "validation_error", "gemini_model")
    assert (gemini.requests[-1].key, gemini.requests[-1].model) == (API_KEY, "gemini-0-unknown")
    assert stored(tenant, "model") is None
    response = api.put("/api/settings", json={"gemini_model": "gemini-2.5-pro"}, headers=tenant.headers)
    assert response.status_code == 200 and response.get_json()["settings"]["gemini_model"] == "gemini-2.5-pro"
    assert "warnings" not in response.get_json()


def test_removing_the_key_or_choosing_a_model_without_one_asks_nothing(api, tenant, gemini):
    response = api.put("/api/settings", json={"gemini_model": "gemini-2.5-pro"}, headers=tenant.headers)
    assert response.status_code == 200
    set_key(api, tenant)
    before = len(gemini.requests)
    assert api.put("/api/settings", json={"gemini_api_key": None}, headers=tenant.headers).status_code == 200
    assert len(gemini.requests) == before


def test_gemini_unreachable_stores_the_key_with_a_warning(app, tenant):
    # The conftest points Gemini at a closed loopback port: connection refused.
    response = app.test_client().put("/api/settings", json={"gemini_api_key": API_KEY}, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["settings"]["gemini_api_key"] == "AIza…x9Q2" and body["settings"]["gemini_api_key_set"] is True
    [warning] = body["warnings"]
    assert warning["code"] == "key_not_checked" and "stored unchecked" in warning["message"]
    with db.connection_context():
        assert workspace_values.is_set(workspace_values.load(tenant.workspace.id).get(("gemini", "api_key")))


def test_gemini_overloaded_during_the_check_also_stores_with_a_warning(api, tenant, gemini):
    gemini.check_status = 503
    response = api.put("/api/settings", json={"gemini_api_key": API_KEY}, headers=tenant.headers)
    assert response.status_code == 200
    assert response.get_json()["warnings"][0]["code"] == "key_not_checked"
    assert "overloaded" in response.get_json()["warnings"][0]["message"]
