"""Helpers for the AI tests: a running fake Gemini, an app pointed at it, a stored key, and cheap
generation rows for plan-limit tests."""

from __future__ import annotations

import datetime as dt

import pytest

from fakes.gemini import API_KEY, FakeGemini
from herald.db.models import AIGeneration, db, utcnow


@pytest.fixture
def gemini():
    """A running fake Gemini API."""
    with FakeGemini() as server:
        yield server


@pytest.fixture
def ai_app(app, build_app, gemini):
    """The application with Gemini at the fake and competitor fetches allowed to reach loopback.

    Built after ``app`` (which ``tenant`` needs), so that jobs run by the worker use this one.
    """
    return build_app(gemini_base_url=gemini.base_url, fetch_allow_private=True)


@pytest.fixture
def api(ai_app):
    """A test client of ``ai_app``."""
    return ai_app.test_client()


def set_key(api, tenant, key: str = API_KEY, **more) -> dict:
    """Store the workspace's Gemini key through the API; returns the settings shown."""
    response = api.put("/api/settings", json={"gemini_api_key": key, **more}, headers=tenant.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["settings"]


def record_generations(workspace_id: int, count: int, *, status: str = "succeeded", feature: str = "test",
                       when: dt.datetime | None = None, tokens: tuple[int, int] = (10, 5)) -> None:
    """Insert ``count`` generation rows directly (what ``count`` earlier calls would have left)."""
    when = when or utcnow()
    with db.connection_context():
        AIGeneration.insert_many([
            {"workspace": workspace_id, "feature": feature, "provider": "gemini", "model": "gemini-flash-latest",
             "status": status, "input_tokens": tokens[0], "output_tokens": tokens[1], "created_at": when}
            for _ in range(count)]).execute()
