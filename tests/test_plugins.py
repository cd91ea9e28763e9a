"""Plugins: a throwaway plugin registered in a fixture, per-workspace enablement (admin API and CLI),
start-up checks, HERALD_PLUGINS, the tutorial plugin installed from plugins/mastodon, and docs/plugins.md
equal to the example's text and the SDK's docstrings."""

from __future__ import annotations

import configparser
import dataclasses
import inspect
import json
import logging
import os
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest

import herald.db.models
from conftest import Tenant, assert_error, start_app
from herald import Action, PublishOutcome, hookimpl, hookspecs, sdk
from herald.auth import SCOPES, create_api_key
from herald.cli import cli
from herald.db.models import Client, Workspace, db
from herald.events import dispatch_marks
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager, new_plugin_manager
from herald.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = ROOT / "plugins" / "mastodon"  # the tutorial's plugin
DOCS = ROOT / "docs" / "plugins.md"


# -- a throwaway plugin -------------------------------------------------------------------------

class PigeonPlatform:
    name = "carrier_pigeon"
    post_types = ("post",)

    def publish(self, task_context):
        return PublishOutcome.published("coo-1")


ECHO_SCHEMA = {
    "type": "object",
    "required": ["action", "text"],
    "additionalProperties": False,
    "properties": {"action": {"const": "pigeon_echo"}, "text": {"type": "string", "maxLength": 100}},
}


def handle_echo(ctx, payload):
    return {"echo": payload["text"].upper(), "workspace_id": ctx.workspace_id}


def handle_note(ctx, payload):
    """An action that opens its own write transaction (``transaction=False``)."""
    from herald.db.models import write_transaction
    from herald.publishing.posts import create_post, get_client

    outside = db.in_transaction()
    client = get_client(ctx.workspace_id, payload["client_id"])
    with write_transaction():
        post = create_post(ctx.workspace_id, ctx.actor, client=client, topic="", caption=payload["text"],
                           post_type="post", platforms=["carrier_pigeon"], media=[], now=ctx.runtime.clock.now())
    return {"post_id": post.id, "in_transaction_before_writing": outside}, 201


NOTE_SCHEMA = {"type": "object", "required": ["action", "client_id", "text"],
               "properties": {"client_id": {"type": "integer"}, "text": {"type": "string"}}}


class Throwaway:
    """Registers the ``carrier_pigeon`` platform and the ``pigeon_echo`` and ``pigeon_note`` actions."""

    @hookimpl
    def register_platforms(self, register):
        register(PigeonPlatform())

    @hookimpl
    def register_actions(self, register):
        register(Action("pigeon_echo", handle_echo, ECHO_SCHEMA, scope="posts:read"))
        register(Action("pigeon_note", handle_note, NOTE_SCHEMA, transaction=False))


@pytest.fixture(autouse=True)
def fresh_enablement_cache():
    """Workspace ids repeat from one test's database to the next; forget enablement cached by earlier tests."""
    herald.db.models._plugin_cache.clear()
    yield
    herald.db.models._plugin_cache.clear()


def app_with(clock, config, plugin, name):
    """Register ``plugin`` on the process-wide manager, then build the app (yields it; unregisters after)."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield start_app(clock, config)
    finally:
        pm.unregister(name=name)
        db.obj.close_all()


@pytest.fixture
def plugin_app(clock, config):
    """The application with the throwaway plugin loaded."""
    yield from app_with(clock, config, Throwaway(), "throwaway")


@pytest.fixture
def plugin_client(plugin_app):
    return plugin_app.test_client()


def make_tenant(app, name, scopes=SCOPES) -> Tenant:
    with app.app_context(), db.connection_context():
        workspace = Workspace.create(name=name)
        client = Client.create(workspace=workspace, name=f"{name} client")
        _, key = create_api_key(workspace, scopes, name="test")
    return Tenant(workspace, client, key)


@pytest.fixture
def tenants(plugin_app):
    """Two workspaces with every scope."""
    return make_tenant(plugin_app, "North"), make_tenant(plugin_app, "South")


def echo(client, tenant):
    return client.post("/api/webhooks", json={"action": "pigeon_echo", "text": "hi"}, headers=tenant.headers)


def create_pigeon_post(client, tenant):
    payload = {"action": "create_post", "client_id": tenant.client.id, "caption": "Coo", "platforms": "carrier_pigeon"}
    return client.post("/api/webhooks", json=payload, headers=tenant.headers)


def set_enabled(client, tenant, name, enabled):
    return client.put(f"/api/admin/plugins/{name}", json={"enabled": enabled}, headers=tenant.headers)


def invoke(app, *args):
    return app.test_cli_runner().invoke(cli, list(args))


# -- (a) the throwaway plugin works like a built-in ---------------------------------------------

def test_plugin_action_runs_through_webhooks_endpoint(plugin_client, tenants):
    north, _ = tenants
    response = echo(plugin_client, north)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"echo": "HI", "workspace_id": north.workspace.id}


def test_plugin_action_without_transaction_writes_in_its_own_and_its_events_are_dispatched(plugin_client, tenants):
    from herald.db.models import Event

    north = tenants[0]
    response = plugin_client.post("/api/webhooks", headers=north.headers,
                                  json={"action": "pigeon_note", "client_id": north.client.id, "text": "Coo"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["in_transaction_before_writing"] is False
    with db.connection_context():
        event = Event.get(Event.type == "post.created")
        assert event.data["post"]["id"] == f"post_{response.get_json()['post_id']}"
        assert dispatch_marks.write_owed() == 1  # dispatched after its transaction committed


def test_plugin_action_payload_is_checked_against_its_inline_schema(plugin_client, tenants):
    north, _ = tenants
    response = plugin_client.post("/api/webhooks", json={"action": "pigeon_echo", "txt": "hi"}, headers=north.headers)
    assert_error(response, 400, "validation_error", "text")


def test_plugin_action_needs_its_scope(plugin_app, plugin_client):
    writer = make_tenant(plugin_app, "Writer", scopes=["posts:write"])
    error = assert_error(echo(plugin_client, writer), 403, "forbidden")
    assert "'posts:read'" in error["message"]


def test_create_post_accepts_plugin_platform(plugin_client, tenants):
    north, _ = tenants
    response = create_pigeon_post(plugin_client, north)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["post"]["platforms"] == ["carrier_pigeon"]


def test_plugins_list_shows_plugin_with_hooks_and_what_it_provides(plugin_app):
    result = invoke(plugin_app, "plugins", "list")
    assert result.exit_code == 0, result.output
    block = result.output.split("throwaway", 1)[1].split("\n\n")[0]
    assert "hooks: register_actions, register_platforms" in block
    assert "platforms: carrier_pigeon" in block
    assert "actions: pigeon_echo, pigeon_note" in block
    assert "enabled: everywhere" in block
    assert "core_actions built-in" in result.output


def test_plugins_list_json_describes_plugin(plugin_app):
    result = invoke(plugin_app, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    row = next(row for row in json.loads(result.output) if row["name"] == "throwaway")
    assert row["builtin"] is False
    assert row["hooks"] == ["register_actions", "register_platforms"]
    assert row["provides"] == {"platforms": ["carrier_pigeon"], "actions": ["pigeon_echo", "pigeon_note"]}
    assert row["disabled_in"] == []


def test_admin_api_lists_plugin_as_enabled(plugin_client, tenants):
    north, _ = tenants
    response = plugin_client.get("/api/admin/plugins", headers=north.headers)
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.get_json()["plugins"]}
    assert rows["throwaway"]["enabled"] is True
    assert rows["core_actions"]["builtin"] is True and rows["core_actions"]["enabled"] is True


# -- (b) per-workspace enablement ---------------------------------------------------------------

def test_disabled_by_admin_api_plugin_action_is_403_in_that_workspace_only(plugin_client, tenants):
    north, south = tenants
    response = set_enabled(plugin_client, north, "throwaway", False)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["plugin"]["enabled"] is False

    error = assert_error(echo(plugin_client, north), 403, "feature_disabled")
    assert "throwaway" in error["message"]
    assert echo(plugin_client, south).status_code == 200
    listed = {row["name"]: row for row in plugin_client.get("/api/admin/plugins", headers=north.headers)
              .get_json()["plugins"]}
    assert listed["throwaway"]["enabled"] is False


def test_disabled_plugin_platform_is_403_for_create_post_in_that_workspace_only(plugin_client, tenants):
    north, south = tenants
    set_enabled(plugin_client, north, "throwaway", False)
    assert_error(create_pigeon_post(plugin_client, north), 403, "feature_disabled")
    assert create_pigeon_post(plugin_client, south).status_code == 201
    instagram = {"action": "create_post", "client_id": north.client.id, "caption": "x", "platforms": "instagram"}
    assert plugin_client.post("/api/webhooks", json=instagram, headers=north.headers).status_code == 201


def test_reenabled_by_admin_api_plugin_works_again(plugin_client, tenants):
    north, _ = tenants
    set_enabled(plugin_client, north, "throwaway", False)
    assert echo(plugin_client, north).status_code == 403
    assert set_enabled(plugin_client, north, "throwaway", True).status_code == 200
    assert echo(plugin_client, north).status_code == 200
    assert create_pigeon_post(plugin_client, north).status_code == 201


def test_disabled_by_cli_plugin_is_403_in_that_workspace_only(plugin_app, plugin_client, tenants):
    north, south = tenants
    result = invoke(plugin_app, "plugins", "disable", "North", "throwaway")
    assert result.exit_code == 0, result.output
    assert "Disabled throwaway for workspace 'North'" in result.output

    assert_error(echo(plugin_client, north), 403, "feature_disabled")
    assert_error(create_pigeon_post(plugin_client, north), 403, "feature_disabled")
    assert echo(plugin_client, south).status_code == 200
    listed = invoke(plugin_app, "plugins", "list").output.split("throwaway", 1)[1]
    assert "enabled: all workspaces except North" in listed


def test_reenabled_by_cli_plugin_works_again(plugin_app, plugin_client, tenants):
    north, _ = tenants
    invoke(plugin_app, "plugins", "disable", str(north.workspace.id), "throwaway")
    assert echo(plugin_client, north).status_code == 403
    result = invoke(plugin_app, "plugins", "enable", "North", "throwaway")
    assert result.exit_code == 0, result.output
    assert echo(plugin_client, north).status_code == 200


def test_builtin_core_actions_cannot_be_disabled(plugin_app, plugin_client, tenants):
    north, _ = tenants
    error = assert_error(set_enabled(plugin_client, north, "core_actions", False), 400, "validation_error", "enabled")
    assert "built into Herald" in error["message"]
    result = invoke(plugin_app, "plugins", "disable", "North", "core_actions")
    assert result.exit_code != 0
    assert "built into Herald" in result.output
    listed = {"action": "list_posts", "client_id": north.client.id}
    assert plugin_client.post("/api/webhooks", json=listed, headers=north.headers).status_code == 200


def test_unknown_plugin_is_404_and_a_cli_error(plugin_app, plugin_client, tenants):
    north, _ = tenants
    assert_error(set_enabled(plugin_client, north, "myspace", False), 404, "not_found")
    result = invoke(plugin_app, "plugins", "disable", "North", "myspace")
    assert result.exit_code != 0
    assert "No plugin named 'myspace'" in result.output


def test_unknown_workspace_is_a_cli_error(plugin_app):
    result = invoke(plugin_app, "plugins", "disable", "Nowhere", "throwaway")
    assert result.exit_code != 0
    assert "No workspace 'Nowhere'" in result.output


def test_plugin_admin_api_needs_admin_scope(plugin_app, plugin_client):
    editor = make_tenant(plugin_app, "Editor", scopes=["posts:read", "posts:write"])
    error = assert_error(set_enabled(plugin_client, editor, "throwaway", False), 403, "forbidden")
    assert "'admin'" in error["message"]
    error = assert_error(plugin_client.get("/api/admin/plugins", headers=editor.headers), 403, "forbidden")
    assert "'admin'" in error["message"]
    assert echo(plugin_client, editor).status_code == 200


def test_plugin_update_body_is_validated(plugin_client, tenants):
    north, _ = tenants
    assert_error(set_enabled(plugin_client, north, "throwaway", "no"), 400, "validation_error", "enabled")


# -- (c) start-up checks --------------------------------------------------------------------------

def platforms_plugin(*platforms):
    class Plugin:
        @hookimpl
        def register_platforms(self, register):
            for platform in platforms:
                register(platform)

    return Plugin()


def test_duplicate_platform_name_stops_start_up():
    pm = new_plugin_manager()
    pm.register(platforms_plugin(PigeonPlatform()), name="first")
    pm.register(platforms_plugin(PigeonPlatform()), name="second")
    with pytest.raises(PluginError, match="'carrier_pigeon' is registered twice: by 'first' and 'second'"):
        PluginRegistry(pm)


def test_platform_without_publish_stops_start_up():
    pm = new_plugin_manager()
    pm.register(platforms_plugin(SimpleNamespace(name="fax", post_types=("post",))), name="faxer")
    with pytest.raises(PluginError, match="'faxer' registered a platform without publish"):
        PluginRegistry(pm)


def test_create_app_refuses_a_plugin_manager_with_an_invalid_plugin(config):
    pm = new_plugin_manager()
    pm.register(platforms_plugin(SimpleNamespace(name="fax", publish=lambda ctx: None)), name="faxer")
    with pytest.raises(PluginError, match="without post_types"):
        create_app(config, pm=pm)


def test_action_that_is_not_an_action_object_stops_start_up():
    class Plugin:
        @hookimpl
        def register_actions(self, register):
            register(SimpleNamespace(name="bad", handler=print, schema={}))

    pm = new_plugin_manager()
    pm.register(Plugin(), name="bad_actions")
    with pytest.raises(PluginError, match="not a herald.Action"):
        PluginRegistry(pm)


def test_misspelled_hookimpl_fails_check_pending():
    class Typo:
        @hookimpl
        def register_platfroms(self, register):
            register(PigeonPlatform())

    pm = new_plugin_manager()
    pm.register(Typo(), name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="register_platfroms"):
        pm.check_pending()


def test_hookimpl_with_unknown_argument_is_refused_at_registration():
    class Wrong:
        @hookimpl
        def register_platforms(self, register, app):
            pass

    with pytest.raises(pluggy.PluginValidationError):
        new_plugin_manager().register(Wrong(), name="wrong")


# -- (d) HERALD_PLUGINS and HERALD_TRACE_PLUGINS ------------------------------------------------

@pytest.fixture
def forget_managers():
    """Drop the managers a test builds with ``only`` (they are cached per tuple for the process)."""
    before = set(herald.plugins._managers)
    yield
    for key in set(herald.plugins._managers) - before:
        herald.plugins._managers.pop(key)


def test_herald_plugins_loads_builtins_and_the_named_plugins_only(forget_managers):
    pm = get_plugin_manager(only=("instagram",))
    assert sorted(name for name, _ in pm.list_name_plugin()) == ["core_actions", "core_scorers", "core_work_kinds",
                                                                  "instagram"]
    registry = PluginRegistry(pm)
    assert list(registry.platforms) == ["instagram"]
    assert {"create_post", "list_posts", "update_engagement"} <= set(registry.actions)


def test_herald_plugins_naming_an_uninstalled_plugin_stops_start_up(forget_managers):
    with pytest.raises(PluginError, match="not installed: myspace"):
        get_plugin_manager(only=("instagram", "myspace"))


def test_app_with_herald_plugins_knows_only_those_platforms(clock, config, forget_managers):
    from herald.config import Config

    assert Config.from_env({"HERALD_PLUGINS": "instagram, gemini"}).plugins == ("instagram", "gemini")
    app = start_app(clock, dataclasses.replace(config, plugins=("instagram",)))
    tenant = make_tenant(app, "Restricted")
    payload = {"action": "create_post", "client_id": tenant.client.id, "caption": "x", "platforms": "facebook"}
    error = assert_error(app.test_client().post("/api/webhooks", json=payload, headers=tenant.headers),
                         400, "validation_error", "platforms")
    assert "Available: instagram." in error["message"]
    db.obj.close_all()


def test_trace_plugins_logs_every_hook_call(caplog, forget_managers):
    pm = get_plugin_manager(only=("webhooks",), trace=True)
    with caplog.at_level(logging.WARNING, logger="herald.plugins"):
        PluginRegistry(pm)
    messages = [record.getMessage() for record in caplog.records]
    assert "hook register_webhook_sinks -> ['webhooks']" in messages
    assert "hook register_actions -> ['core_actions']" in messages


# -- (e) the tutorial's plugin (its own behaviour is tested in plugins/mastodon/tests) ----------------------

def test_example_distribution_declares_its_entry_point():
    setup = configparser.ConfigParser()
    setup.read(EXAMPLE_DIR / "setup.cfg")
    assert setup["metadata"]["name"] == "herald-mastodon"
    assert setup["options"]["packages"].strip() == "herald_mastodon"
    assert setup["options.entry_points"]["herald"].strip() == "mastodon = herald_mastodon"
    assert "setuptools.build_meta" in (EXAMPLE_DIR / "pyproject.toml").read_text()
    assert (EXAMPLE_DIR / "setup.cfg").read_text() in DOCS.read_text(encoding="utf-8")


def test_example_is_installed_as_a_third_party_plugin():
    """``make install`` installs it from its own distribution: Herald finds it by its entry point."""
    import herald_mastodon

    assert Path(herald_mastodon.__file__).resolve() == EXAMPLE_DIR / "herald_mastodon" / "__init__.py"
    assert "mastodon" in dict(get_plugin_manager().list_name_plugin())


def test_example_plugin_passes_the_start_up_checks_alone():
    import herald_mastodon

    pm = new_plugin_manager()
    pm.register(herald_mastodon, name="mastodon")
    pm.check_pending()
    registry = PluginRegistry(pm)
    assert registry.platforms["mastodon"].plugin == "mastodon"
    assert registry.actions["mastodon_preview"].obj.scope == "posts:read"
    assert {setting.env for setting in registry.settings_of("mastodon")} == {
        "HERALD_MASTODON_TIMEOUT", "HERALD_MASTODON_ALLOW_PRIVATE"}
    assert not registry.is_builtin("mastodon")


def tutorial_blocks() -> list[str]:
    """The Python code blocks of the tutorial in docs/plugins.md."""
    text = DOCS.read_text(encoding="utf-8")
    tutorial = text.split("<!-- tutorial:start -->", 1)[1].split("<!-- tutorial:end -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", tutorial, re.DOTALL)


def test_the_tutorials_code_is_the_example_plugins_text():
    """Every run of lines the tutorial shows is in the plugin's modules or its tests, verbatim."""
    sources = [path.read_text(encoding="utf-8") for folder in ("herald_mastodon", "tests")
               for path in sorted((EXAMPLE_DIR / folder).glob("*.py"))]
    blocks = tutorial_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        for piece in re.split(r"\n\s*\n", block.strip("\n")):
            assert any(piece in source for source in sources), piece


def test_the_tutorial_builds_every_capability_the_done_when_names():
    shown = "\n".join(tutorial_blocks())
    for step in ("def connect(", "def publish(", "def reconcile(", "def post_comment(", "def find_comment(",
                 "def fetch_metrics(", "def register_settings(", "def register_platforms(",
                 "def test_a_worker_killed_after_sending_is_reconciled_without_a_second_status("):
        assert step in shown, step


def test_the_reference_is_written_from_the_sdks_docstrings():
    """``herald docs docs/plugins.md`` leaves the page as it is; a docstring changed in the code would not."""
    from click.testing import CliRunner

    from herald import sdk_reference
    from herald.readme_tables import rewrite_sections

    result = CliRunner().invoke(cli, ["docs", "--check", str(DOCS)])
    assert result.exit_code == 0, result.output
    text = DOCS.read_text(encoding="utf-8")
    assert sdk_reference.markdown(sdk.Platform.reconcile.__doc__) in text
    changed = dict(sdk_reference.SECTIONS, **{"sdk-platform": lambda: "### Platform\n\nSomething else."})
    assert rewrite_sections(text, changed) != text


# -- (f) the hook reference ---------------------------------------------------------------------

HOOKSPECS = [function for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(function, "herald_spec")]


def test_every_hookspec_has_a_docstring():
    assert {function.__name__ for function in HOOKSPECS} == {
        name for name in dir(new_plugin_manager().hook) if not name.startswith("_")}
    for function in HOOKSPECS:
        assert (function.__doc__ or "").strip(), f"{function.__name__} has no docstring"


def test_docs_document_every_hook_with_its_signature():
    docs = DOCS.read_text(encoding="utf-8")
    for function in HOOKSPECS:
        assert f"{function.__name__}{inspect.signature(function)}" in docs, function.__name__


def test_the_instagram_plugin_installs_and_runs_without_the_facebook_plugin():
    """Both use Meta's Graph API through the herald-graph library, which registers no platform:
    Instagram neither requires the Facebook distribution nor imports it when it is loaded alone."""
    assert not any(requirement.startswith("herald-facebook") for requirement in requires("herald-instagram"))
    assert not any(requirement.startswith("herald-facebook") for requirement in requires("herald-graph"))
    code = ("import sys; from herald.plugins import PluginRegistry, get_plugin_manager; "
            "registry = PluginRegistry(get_plugin_manager(('instagram',))); "
            "print(sorted(registry.platforms), 'herald_facebook' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["['instagram']", "False"]


def test_every_plugin_in_the_tree_is_held_to_importing_only_the_sdk():
    """``.importlinter``'s plugins contract names every plugin package under ``plugins/`` (a new one
    left out would be free to import Herald's internals)."""
    root = Path(__file__).resolve().parent.parent
    contract = configparser.ConfigParser()
    contract.read(root / ".importlinter")
    checked = set(contract["importlinter:contract:plugins"]["source_modules"].split())
    packages = {path.parent.name for path in root.glob("plugins/*/herald_*/__init__.py")}
    assert "herald_mastodon" in packages  # the tutorial's plugin lives with the others
    assert packages == checked
    assert packages <= set(contract["importlinter"]["root_packages"].split())


@pytest.mark.parametrize(("plugin", "distribution", "setting"), [
    ("threads", "herald-threads", "HERALD_THREADS_BASE_URL"),
    ("bluesky", "herald-bluesky", "HERALD_BLUESKY_PDS_URL"),
    ("mastodon", "herald-mastodon", "HERALD_MASTODON_TIMEOUT"),
    ("linkedin", "herald-linkedin", "HERALD_LINKEDIN_API_URL"),
    ("mcp", "herald-mcp", "HERALD_MCP_RECENT_POSTS")])
def test_each_new_plugin_installs_and_runs_alone(tmp_path, plugin, distribution, setting):
    """Issue 24: each distribution needs no other plugin, and ``herald plugins list`` run with it alone (on a
    server not initialised yet) shows it with its settings and nothing of the other plugins."""
    others = [name for name in requires(distribution) or [] if name.startswith("herald-")]
    assert others == [], others
    env = {name: value for name, value in os.environ.items() if not name.startswith("HERALD_")}
    env.update(HERALD_PLUGINS=plugin, HERALD_DATA_DIR=str(tmp_path))
    listed = subprocess.run([str(Path(sys.executable).parent / "herald"), "plugins", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert [name for name, row in rows.items() if not row["builtin"]] == [plugin]
    assert setting in {entry["env"] for entry in rows[plugin]["settings"]}
