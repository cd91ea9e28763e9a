"""``/app``: the login page and the Integrations page for signed-in users, with its forms.

The page shows the action endpoint with each action's example body, the API keys, the connected
accounts, the plugins and whether each is enabled here, the workspace's plugin settings (the AI
provider's key, masked), the plan and this month's usage, the error codes, and the sections plugins
add (``register_integration_sections``: outgoing webhooks). Every form calls the service the JSON
API's route calls, behind the same scope: a viewer reads, an editor cannot manage keys, plugins,
accounts or webhooks, an admin or owner can. See :mod:`herald.web.api.app_forms` for the rules
every form follows.
"""

from __future__ import annotations

import json

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from ... import ai, workspace_values
from ...auth import SCOPES, create_api_key
from ...capabilities import provided
from ...db.models import Account, ApiKey, User, Workspace
from ...errors import FeatureDisabled, HeraldError, NotFound, Unauthorized, ValidationError
from ...plans import ai_usage
from ...plans.report import plan_report
from ...plugins import check_enabled
from ...publishing import accounts, oauth_connect
from ...schemas import schema_name
from .. import ratelimit
from ..error_handlers import serve_routing_errors_as_pages
from . import app_forms, endpoint, runtime
from .api_keys_and_plugins import change_plugin, plugin_row, serialize_key
from .app_forms import FORM, LOGIN_PATH, PAGE_PATH, app_form, flash_secret, message_page, protect
from .session import clear_session_cookie, set_session_cookie
from .settings import apply_settings

bp = Blueprint("integrations", __name__)
LOGIN_ENDPOINT = "integrations.login"

NOTICES = {
    "keys.created": "API key created. Copy it now: it is not shown again.",
    "keys.revoked": "API key revoked: requests with it are refused from now on.",
    "plugins.enabled": "Plugin enabled for this workspace.",
    "plugins.disabled": "Plugin disabled for this workspace.",
    "accounts.connected": "Account connected.",
    "accounts.disconnected": "Account disconnected: its token was deleted.",
    "accounts.oauth_unavailable": "This platform connects with an access token, not a sign-in: paste it below.",
    "accounts.declined": "Nothing was connected: the sign-in was declined on the platform.",
    "accounts.not_connected": "Nothing was connected: the sign-in did not work. Try again, or paste an access token.",
    "settings.saved": "Settings saved.",
    "settings.unchecked": "Settings saved, but the key could not be checked with the AI provider now; "
                          "it is used once AI is available.",
}
PLACEHOLDERS = {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}


@bp.after_request
def _protect(response):
    return protect(response)


def _routing_error_page(exc: HTTPException):
    return message_page(exc.code or 500, exc.description or exc.name, exc.name)


bp.record_once(lambda setup: serve_routing_errors_as_pages(setup.app, "/app/", _routing_error_page))


bp.register_error_handler(HeraldError, app_forms.error_page)


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded):
    """The login form's limit (``HERALD_LOGIN_RATE_LIMIT``, shared with ``POST /api/login``) or the address's."""
    wait = ratelimit.retry_after(runtime().limiter)
    return message_page(429, f"Please wait {wait} seconds, then try again.", headers={"Retry-After": str(wait)})


# -- signing in ---------------------------------------------------------------------------------


@endpoint(bp, LOGIN_PATH, ("GET",), auth=False, response_type="text/html", errors=(400,),
          summary="The login page (HTML) of the Integrations page")
def login_page():
    """The email and password form (the Integrations page shows it too, to a visitor not signed in)."""
    return render_template("app/login.html", error=None)


@endpoint(bp, LOGIN_PATH, ("POST",), auth=False, content_type=FORM, response_type="text/html",
          errors=(400, 401, 403), summary="Log in from the login page (form; sets the session cookie)")
def login():
    """Check the credentials (as ``POST /api/login``), set the session cookie, go to the Integrations page."""
    if app_forms.from_another_site(request):
        return message_page(403, "Forms can only be sent from this site's pages.")
    try:
        _, token = runtime().auth.login(request.form.get("email", ""), request.form.get("password", ""))
    except Unauthorized as exc:
        return protect(make_response(render_template("app/login.html", error=exc.message), 401))
    response = redirect(PAGE_PATH, 303)
    set_session_cookie(response, token)
    return response


@endpoint(bp, "/app/logout", ("POST",), auth=False, content_type=FORM, response_type="text/html", errors=(400, 403),
          summary="Log out (form; back to the login page)")
def logout():
    """End the session (the form must carry its CSRF value) and clear the cookie."""
    token = app_forms.session_token()
    if token is not None:
        app_forms.check_form(token)
        runtime().auth.logout(token)
    response = redirect(LOGIN_PATH, 303)
    clear_session_cookie(response)
    return response


# -- the page -----------------------------------------------------------------------------------


@endpoint(bp, PAGE_PATH, ("GET",), auth=False, response_type="text/html", errors=(400, 401),
          summary="The Integrations page (HTML): action endpoint, API keys, webhooks, accounts, plugins, "
                  "settings, plan and usage, error codes")
def page():
    """The page for the signed-in user (the login page otherwise), read-only for roles that may not change
    a part of it."""
    principal = app_forms.page_principal()
    if principal is None:  # the login form, here: it comes back to this page
        return render_template("app/login.html", error=None), 401
    g.principal = principal
    token = app_forms.session_token()
    view = app_forms.SectionPage(principal, app_forms.csrf_for(token), runtime().clock.now())
    user = User.get_by_id(principal.user_id)
    workspace = Workspace.get_by_id(principal.workspace_id)
    return render_template(
        "app/integrations.html", page=view, user=user, workspace=workspace, notice=_notice(),
        secret=app_forms.take_flash(token), actions=_actions(), action_url=url_for("actions.run_action",
                                                                                  _external=True),
        keys=_keys(), scopes=SCOPES, accounts=_accounts(), platforms=_connectable_platforms(),
        plugins=[plugin_row(name) for name in runtime().registry.plugin_names()], settings=_settings(),
        plan=plan_report(workspace, runtime().config, view.now), ai_limit=ai_usage.monthly_limit(workspace.plan),
        error_codes=runtime().registry.error_code_entries(), sections=_sections(view))


def _notice() -> str | None:
    """The fixed text for the page's notice (``?notice=``, or how a sign-in flow came back: ``?connected=``
    or ``?error=``); nothing from the URL itself is shown."""
    if request.args.get("connected"):
        return NOTICES["accounts.connected"]
    if request.args.get("error"):
        return NOTICES["accounts.declined" if request.args["error"] == "access_denied" else "accounts.not_connected"]
    code = request.args.get("notice", "")
    if code in NOTICES:
        return NOTICES[code]
    name, _, short = code.partition(".")
    section = runtime().registry.integration_sections.get(name)
    return section.obj.notices.get(short) if section is not None else None


def example_body(name: str, schema: dict) -> dict:
    """An example body for the action ``name``: the schema's first ``examples`` entry, or its required
    properties filled with their constant, first choice, default or a placeholder."""
    if schema.get("examples"):
        return schema["examples"][0]
    body: dict = {"action": name}
    for prop in schema.get("required", []):
        spec = schema.get("properties", {}).get(prop, {})
        if "$ref" in spec:
            spec = schema.get("$defs", {}).get(spec["$ref"].rsplit("/", 1)[1], {})
        if prop in body:
            continue
        if "const" in spec:
            body[prop] = spec["const"]
        elif spec.get("examples"):
            body[prop] = spec["examples"][0]
        elif spec.get("enum"):
            body[prop] = spec["enum"][0]
        elif "default" in spec:
            body[prop] = spec["default"]
        else:
            kind = spec.get("type", "string")
            kind = kind[0] if isinstance(kind, list) else kind
            body[prop] = PLACEHOLDERS.get(kind, "...")
    return body


def _actions() -> list[dict]:
    schemas = runtime().schemas.schemas
    found = []
    for name, registered in sorted(runtime().registry.actions.items()):
        action = registered.obj
        schema = schemas.get(schema_name(action), {})
        found.append({"name": name, "scope": action.scope, "plugin": registered.plugin,
                      "description": action.description or schema.get("description", ""),
                      "example": json.dumps(example_body(name, schema), indent=2)})
    return found


def _keys() -> list[dict]:
    rows = ApiKey.select().where(ApiKey.workspace == g.principal.workspace_id).order_by(ApiKey.id)
    return [serialize_key(row) for row in rows]


def _accounts() -> list[dict]:
    rows = Account.select().where(Account.workspace == g.principal.workspace_id).order_by(Account.id)
    return [accounts.serialize_account(row) for row in rows]


def _connectable_platforms() -> list[str]:
    return sorted(name for name, registered in runtime().registry.platforms.items()
                  if provided(registered.obj, "connect") is not None)


def _settings() -> dict:
    registry = runtime().registry
    shown = workspace_values.serialize(runtime().config, g.principal.workspace_id, registry)
    try:
        provider = ai.provider_for(runtime(), g.principal.workspace_id).obj.name
    except FeatureDisabled:
        provider = None
    fields = [{"field": field, "meaning": registered.obj.meaning, "secret": registered.obj.secret,
               "plugin": registered.plugin, "value": shown.get(field),
               "is_set": shown.get(f"{field}_set", shown.get(field) is not None)}
              for field, registered in sorted(registry.workspace_settings.items())]
    return {"ai_provider": provider, "fields": fields}


def _sections(view: app_forms.SectionPage) -> list[dict]:
    """The plugins' sections, each rendered, for the plugins enabled in this workspace."""
    found = []
    for name, registered in sorted(runtime().registry.integration_sections.items()):
        try:
            check_enabled(runtime().registry, view.principal.workspace_id, registered.plugin, "")
        except FeatureDisabled:
            found.append({"name": name, "title": registered.obj.title, "html": None, "plugin": registered.plugin})
            continue
        # The section's own template escaped what it shows: its output is the page's HTML, as rendered.
        found.append({"name": name, "title": registered.obj.title, "html": Markup(registered.obj.render(view)),
                      "plugin": registered.plugin})
    return found


# -- the forms ----------------------------------------------------------------------------------


@app_form(bp, "/app/integrations/keys", summary="Create an API key (form; the key is shown once)", scope="admin",
          errors=(400,))
def create_key():
    """Create a key as ``POST /api/keys`` does; the page shows it once (kept server-side, not in the URL)."""
    payload = {"name": request.form.get("name", "").strip(), "scopes": request.form.getlist("scopes")}
    if not payload["scopes"]:
        raise ValidationError("Choose at least one scope for the key.", field="scopes")
    runtime().schemas.validate("api_key_create", payload)
    _, key = create_api_key(g.principal.workspace_id, payload["scopes"], payload["name"])
    flash_secret("Your new API key", key)
    return "keys.created"


@app_form(bp, "/app/integrations/keys/<int:key_id>/revoke", summary="Revoke an API key (form)", scope="admin")
def revoke_key(key_id):
    """Revoke a key of the workspace as ``DELETE /api/keys/<id>`` does."""
    if not runtime().auth.revoke_key(g.principal.workspace_id, key_id):
        raise NotFound(f"No active API key {key_id} in this workspace.")
    return "keys.revoked"


@app_form(bp, "/app/integrations/plugins/<name>", summary="Enable or disable a plugin for this workspace (form)",
          scope="admin", errors=(400,))
def toggle_plugin(name):
    """Enable (``enabled=true``) or disable (``enabled=false``) a plugin as ``PUT /api/admin/plugins/<name>``."""
    wanted = request.form.get("enabled", "")
    if wanted not in ("true", "false"):
        raise ValidationError("enabled must be true or false.", field="enabled")
    change_plugin(name, wanted == "true")
    return "plugins.enabled" if wanted == "true" else "plugins.disabled"


@app_form(bp, "/app/integrations/accounts", summary="Connect an account with an access token (form)",
          scope="accounts", errors=(400, 503))
def connect_account():
    """Check the token with the platform and store it, as ``POST /v1/accounts`` does."""
    platform = request.form.get("platform", "").strip().lower()
    token = request.form.get("access_token", "").strip()
    if not token:
        raise ValidationError("Paste the account's access token.", field="access_token")
    accounts.connect(runtime(), g.principal.workspace_id, platform, token)
    return "accounts.connected"


@app_form(bp, "/app/integrations/accounts/connect", summary="Connect an account through the platform's sign-in "
          "(form)", scope="accounts", errors=(400,))
def connect_with_oauth():
    """Start the platform's sign-in flow (``POST /v1/accounts/connect``'s), coming back to this page; a page
    with the link to the platform's dialog (a form may only lead to this server, by the page's CSP). A
    platform that connects with a token only, or a server without the platform's app, says so."""
    platform = request.form.get("platform", "").strip().lower()
    registered = runtime().registry.platforms.get(platform)
    if registered is None:
        raise ValidationError(f"Unknown platform {platform!r}.", field="platform")
    if not oauth_connect.has_sign_in(registered.obj):
        return "accounts.oauth_unavailable"
    public = (runtime().config.public_url or "").rstrip("/")
    started = oauth_connect.start(runtime(), g.principal.workspace_id, platform,
                                  f"{public}{app_forms.PAGE_PATH}" if public else None)
    return make_response(render_template("app/continue.html", platform=platform, url=started["authorization_url"],
                                         minutes=int(oauth_connect.STATE_LIFETIME.total_seconds() // 60)))


@app_form(bp, "/app/integrations/accounts/<account_id>/disconnect", summary="Disconnect an account (form)",
          scope="accounts")
def disconnect_account(account_id):
    """Delete the account's token, as ``DELETE /v1/accounts/<id>`` does."""
    accounts.disconnect(runtime(), accounts.get_account(g.principal.workspace_id, account_id))
    return "accounts.disconnected"


@app_form(bp, "/app/integrations/settings", summary="Replace or clear the workspace's plugin settings, such as the "
          "AI provider's key (form)", scope="admin", errors=(400,))
def save_settings():
    """Store the filled-in fields (and clear those ticked ``clear_<field>``) as ``PUT /api/settings`` does;
    an empty field stays as it is."""
    payload: dict = {}
    for field in runtime().registry.workspace_settings:
        text = request.form.get(field, "").strip()
        if request.form.get(f"clear_{field}"):
            payload[field] = None
        elif text:
            payload[field] = text
    if not payload:
        raise ValidationError("Fill in a value to replace, or tick one to clear.")
    runtime().schemas.validate("settings_update", payload)
    body = apply_settings(payload)
    return "settings.unchecked" if body.get("warnings") else "settings.saved"
