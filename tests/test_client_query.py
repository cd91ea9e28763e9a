"""The ``?client_id=`` query parameter, on every endpoint that takes it: a positive whole number naming
a client of the caller's workspace, else a 400 or 404 envelope with field ``client_id``."""

from __future__ import annotations

import datetime as dt

import pytest
from intel_data import make_post

from conftest import assert_error

# Optional: absent means the whole workspace.
OPTIONAL = ("/api/export/posts", "/api/analytics/export", "/api/campaigns", "/api/client-portal/tokens",
            "/api/intelligence/competitors", "/api/ai-design/templates")
# Required: the report is about one client.
REQUIRED = ("/api/intelligence/memory", "/api/intelligence/hooks", "/api/intelligence/top-patterns",
            "/api/intelligence/export")
SECRET = "Only the owner may read this caption"
NOT_A_POSITIVE_NUMBER = ("abc", "0", "-1", "1.0", " 1", "1e3", "\u00b2", "0x1")


def served(response) -> bool:
    """Whether ``response`` is a 200, read to its end (downloads are streamed) and closed."""
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200, body
    return True


@pytest.mark.parametrize("path", OPTIONAL + REQUIRED)
def test_a_value_that_is_not_a_positive_whole_number_is_400(client, tenant, path):
    for value in NOT_A_POSITIVE_NUMBER:
        error = assert_error(client.get(path, query_string={"client_id": value}, headers=tenant.headers),
                             400, "validation_error", "client_id")
        assert error["message"] == "client_id must be a positive whole number."


@pytest.mark.parametrize("path", OPTIONAL + REQUIRED)
def test_another_workspaces_client_is_404_without_its_data(client, tenant, make_tenant, path):
    other = make_tenant("Other agency")
    make_post(other, SECRET, dt.datetime(2026, 1, 5, 14))
    response = client.get(path, query_string={"client_id": other.client.id}, headers=tenant.headers)
    error = assert_error(response, 404, "not_found", "client_id")
    assert error["message"] == f"No client {other.client.id} in this workspace."
    assert SECRET not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", OPTIONAL + REQUIRED)
def test_a_client_that_does_not_exist_is_404(client, tenant, path):
    for value in (tenant.client.id + 1000, 2**31 - 1, 2**31, 10**30):  # past an integer column's range too
        assert_error(client.get(path, query_string={"client_id": value}, headers=tenant.headers),
                     404, "not_found", "client_id")


@pytest.mark.parametrize("path", OPTIONAL + REQUIRED)
def test_the_workspaces_own_client_is_served(client, tenant, path):
    assert served(client.get(path, query_string={"client_id": tenant.client.id}, headers=tenant.headers))


@pytest.mark.parametrize("path", OPTIONAL)
def test_an_optional_client_id_may_be_left_out(client, tenant, path):
    for query in ({}, {"client_id": ""}):
        assert served(client.get(path, query_string=query, headers=tenant.headers))


@pytest.mark.parametrize("path", REQUIRED)
def test_a_required_client_id_must_be_given(client, tenant, path):
    for query in ({}, {"client_id": ""}):
        error = assert_error(client.get(path, query_string=query, headers=tenant.headers),
                             400, "validation_error", "client_id")
        assert error["message"] == "client_id is required."
