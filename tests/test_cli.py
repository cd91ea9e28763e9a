"""The ``herald`` command, run through Flask's CLI runner against the test application."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

import herald.models
from conftest import assert_error
from herald.app import create_app
from herald.cli import cli
from herald.models import ApiKey, Client, User, Workspace, db


@pytest.fixture(autouse=True)
def fresh_enablement_cache():
    """Workspace ids repeat from one test's database to the next; forget enablement cached by earlier tests."""
    herald.models._plugin_cache.clear()


@pytest.fixture
def herald_cmd(app):
    """Run ``herald ARGS…`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()

    def run(*args, **kwargs):
        return runner.invoke(cli, [str(arg) for arg in args], **kwargs)

    return run


def last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


def make_workspace_with_client(herald_cmd, name):
    assert herald_cmd("create-workspace", name).exit_code == 0
    workspace = Workspace.get(Workspace.name == name)
    return workspace, Client.create(workspace=workspace, name=f"{name} client")


def list_posts(client, key, client_id):
    return client.post("/api/webhooks", json={"action": "list_posts", "client_id": client_id},
                       headers={"X-API-Key": key})


# -- init-db --------------------------------------------------------------------------------------

def test_init_db_applies_migrations_once_then_says_up_to_date(config, tmp_path):
    app = create_app(dataclasses.replace(config, database_url=f"sqlite:///{tmp_path / 'fresh.db'}"))
    runner = app.test_cli_runner()
    first = runner.invoke(cli, ["init-db"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Applied migrations: 0001_initial")
    second = runner.invoke(cli, ["init-db"])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "Database schema is up to date."
    with app.app_context():
        assert Workspace.select().count() == 0
    db.obj.close_all()


# -- workspaces and users -------------------------------------------------------------------------

def test_create_workspace_prints_its_id_and_plan(herald_cmd):
    result = herald_cmd("create-workspace", "Blue Agency", "--plan", "pro")
    assert result.exit_code == 0, result.output
    workspace = Workspace.get(Workspace.name == "Blue Agency")
    assert workspace.plan == "pro"
    assert result.output.strip() == f"Created workspace 'Blue Agency' (id {workspace.id}, plan pro)."


def test_create_workspace_with_a_taken_name_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-workspace", "Blue Agency")
    assert result.exit_code == 1
    assert "A workspace named 'Blue Agency' exists already." in result.output
    assert Workspace.select().count() == 1


def test_create_user_with_password_option_can_log_in(herald_cmd, client):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-user", "Blue Agency", "Ana@Example.com", "--role", "admin",
                        "--password", "correct horse")
    assert result.exit_code == 0, result.output
    assert "Created admin ana@example.com in workspace 'Blue Agency'." in result.output
    assert User.get(User.email == "ana@example.com").role == "admin"
    response = client.post("/api/login", json={"email": "ana@example.com", "password": "correct horse"})
    assert response.status_code == 200, response.get_json()


def test_create_user_with_short_password_or_taken_email_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    short = herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "short")
    assert short.exit_code == 1
    assert "at least 8 characters" in short.output
    herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "long enough")
    taken = herald_cmd("create-user", "Blue Agency", "ana@example.com", "--password", "long enough")
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    assert User.select().count() == 1


def test_create_user_in_unknown_workspace_is_an_error(herald_cmd):
    result = herald_cmd("create-user", "Nowhere", "ana@example.com", "--password", "long enough")
    assert result.exit_code == 1
    assert "No workspace 'Nowhere'" in result.output


# -- API keys -------------------------------------------------------------------------------------

def test_create_key_prints_key_alone_on_last_line(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-key", "Blue Agency", "--name", "zapier")
    assert result.exit_code == 0, result.output
    key = last_line(result)
    assert re.fullmatch(r"hrld_live_[0-9A-Za-z]{43}", key)
    row = ApiKey.get()
    assert row.name == "zapier"
    assert key not in row.display
    assert f"#{row.id}" in result.output


def test_key_with_one_scope_works_for_that_scope_only(herald_cmd, client):
    workspace, client_row = make_workspace_with_client(herald_cmd, "Blue Agency")
    result = herald_cmd("create-key", workspace.id, "--scope", "posts:read")
    assert result.exit_code == 0, result.output
    assert "with scopes: posts:read." in result.output
    key = last_line(result)

    assert list_posts(client, key, client_row.id).status_code == 200
    create = {"action": "create_post", "client_id": client_row.id, "caption": "x", "platforms": "instagram"}
    error = assert_error(client.post("/api/webhooks", json=create, headers={"X-API-Key": key}), 403, "forbidden")
    assert "'posts:write'" in error["message"]


def test_create_key_with_unknown_scope_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    result = herald_cmd("create-key", "Blue Agency", "--scope", "posts:delete")
    assert result.exit_code == 1
    assert "Unknown scope 'posts:delete'" in result.output
    assert ApiKey.select().count() == 0


def test_create_key_for_unknown_workspace_is_an_error(herald_cmd):
    result = herald_cmd("create-key", "Nowhere")
    assert result.exit_code == 1
    assert "No workspace 'Nowhere'" in result.output


def test_revoked_key_is_401(herald_cmd, client):
    workspace, client_row = make_workspace_with_client(herald_cmd, "Blue Agency")
    key = last_line(herald_cmd("create-key", "Blue Agency"))
    assert list_posts(client, key, client_row.id).status_code == 200
    key_id = ApiKey.get().id

    result = herald_cmd("revoke-key", "Blue Agency", key_id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Revoked key #{key_id}."
    assert_error(list_posts(client, key, client_row.id), 401, "unauthorized")


def test_revoking_unknown_or_revoked_key_or_another_workspaces_key_is_an_error(herald_cmd):
    herald_cmd("create-workspace", "Blue Agency")
    herald_cmd("create-workspace", "Red Agency")
    herald_cmd("create-key", "Blue Agency")
    key_id = ApiKey.get().id
    other = herald_cmd("revoke-key", "Red Agency", key_id)
    assert other.exit_code == 1
    assert f"No active key #{key_id} in workspace 'Red Agency'." in other.output
    assert herald_cmd("revoke-key", "Blue Agency", key_id).exit_code == 0
    again = herald_cmd("revoke-key", "Blue Agency", key_id)
    assert again.exit_code == 1
    assert herald_cmd("revoke-key", "Blue Agency", 999).exit_code == 1


# -- demo -----------------------------------------------------------------------------------------

def demo_key_and_client_id(result) -> tuple[str, int]:
    assert result.exit_code == 0, result.output
    key = re.search(r"API key \(shown once\): (\S+)", result.output).group(1)
    client_id = int(re.search(r"\(client_id (\d+)\)", result.output).group(1))
    return key, client_id


def test_demo_twice_reuses_workspace_and_client_with_a_new_working_key(herald_cmd, client):
    first = herald_cmd("demo")
    second = herald_cmd("demo")
    assert first.output.startswith("Created workspace 'Demo Agency'")
    assert second.output.startswith("Reusing workspace 'Demo Agency'")
    first_key, first_client = demo_key_and_client_id(first)
    second_key, second_client = demo_key_and_client_id(second)
    assert first_client == second_client
    assert first_key != second_key
    assert Workspace.select().count() == 1 and Client.select().count() == 1
    for key in (first_key, second_key):
        assert list_posts(client, key, first_client).status_code == 200


def test_demo_curl_example_creates_a_post(herald_cmd, client):
    result = herald_cmd("demo")
    key, client_id = demo_key_and_client_id(result)
    assert f"-H 'X-API-Key: {key}'" in result.output
    payload = {"action": "create_post", "client_id": client_id, "topic": "Text on design",
               "caption": "Instagram caption", "post_type": "post", "platforms": "instagram"}
    assert f"-d '{json.dumps(payload)}'" in result.output
    response = client.post("/api/webhooks", json=payload, headers={"X-API-Key": key})
    assert response.status_code == 201, response.get_json()
