"""The Integrations page in a real browser: Playwright drives Debian's headless Chromium against the
real application served on a loopback port. Log in, create and revoke a key, add a webhook, send a
test, see the delivery and redeliver it, toggle a plugin as admin and be refused as viewer, at desktop
and phone widths, with the keyboard, under the page's strict CSP.

Set ``HERALD_INTEGRATIONS_SCREENSHOT=docs/integrations.png`` to keep the screenshot the last test takes.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from app_support import PASSWORD, make_user
from browser_support import chromium, serving
from portal_support import connect
from webhooks_drive import work

from herald.db.models import ApiKey, db, plugin_enabled

DESKTOP = {"width": 1100, "height": 900}
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "device_scale_factor": 2}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    with chromium() as instance:
        yield instance


@pytest.fixture
def app(build_app, plugin):
    """The application with the scripted platform, delivering webhooks to loopback receivers."""
    return build_app(webhook_allow_private=True)


@pytest.fixture
def live(app):
    """The application served over HTTP on a free loopback port; its base URL."""
    with serving(app, "integrations-live-server") as url:
        yield url


@pytest.fixture
def signed_in(browser, live, app, tenant):
    """Factory: a page of a new context logged in (through the login form) as a user of ``role``; the
    browser's CSP violations are collected in ``page.csp_violations``."""
    contexts = []

    def sign_in(role: str, **options):
        context = browser.new_context(**{"viewport": DESKTOP, **options})
        contexts.append(context)
        page = context.new_page()
        violations = []
        page.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)
        page.csp_violations = violations
        response = page.goto(live + "/app/integrations")
        assert response.status == 401 and page.locator("h1").inner_text() == "Log in to Herald"
        page.get_by_label("Email").fill(make_user(app, tenant, role))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        page.wait_for_url("**/app/integrations")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def notice(page) -> str:
    return page.locator("#notice").inner_text()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize("options", [{}, PHONE], ids=["desktop", "phone"])
def test_keys_webhooks_and_plugins_as_admin(signed_in, tenant, receiver, redis_client, options):
    page = signed_in("admin", **options)
    assert page.locator("h1").inner_text() == "Integrations"
    assert no_horizontal_scroll(page)
    # The copy buttons appear: the page's own script runs under its CSP.
    assert page.get_by_role("button", name="Copy URL").is_visible()

    # A key: created, shown once, revoked.
    page.get_by_label("New key's name").fill("Zapier")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url("**notice=keys.created*")
    key = page.locator("#secret-value").input_value()
    assert re.fullmatch(r"hrld_live_[0-9A-Za-z]{43}", key) and key not in page.url
    page.reload()
    assert page.locator("#secret-value").count() == 0  # shown once
    with db.connection_context():
        made = ApiKey.get(ApiKey.name == "Zapier")
    page.get_by_role("button", name="Revoke Zapier").click()
    page.wait_for_url("**notice=keys.revoked*")
    assert "revoked" in notice(page)
    assert page.locator(f'li[data-key="{made.id}"] .bad').inner_text() == "revoked"

    # A webhook: added, tested, its delivery seen, redelivered.
    page.get_by_label("Endpoint URL").fill(receiver.url())
    page.get_by_label("Events").select_option(["post.created", "publish.completed"])
    page.get_by_role("button", name="Add webhook").click()
    page.wait_for_url("**notice=webhooks.created*")
    secret = page.locator("#secret-value").input_value()
    assert secret.startswith("whsec_")
    hook = page.locator("li[data-webhook]")
    hook.get_by_role("button", name="Send test").click()
    page.wait_for_url("**notice=webhooks.tested*")
    work(redis_client)
    page.reload()
    attempt = page.locator("li[data-attempt]")
    assert attempt.count() == 1 and attempt.locator("[data-status]").inner_text() == "200"
    assert "webhook.test" in attempt.inner_text() and " ms" in attempt.inner_text()
    attempt.get_by_role("button", name="Redeliver").click()
    page.wait_for_url("**notice=webhooks.redelivered*")
    work(redis_client)
    page.reload()
    assert page.locator("li[data-attempt]").count() == 2
    assert [payload["type"] for payload in receiver.verified(secret)] == ["webhook.test", "webhook.test"]

    # A plugin, toggled by the admin.
    page.get_by_role("button", name="Disable webhooks").click()
    page.wait_for_url("**notice=plugins.disabled*")
    with db.connection_context():
        assert plugin_enabled(tenant.workspace.id, "webhooks") is False
    assert "disabled for this workspace" in page.locator("#webhooks").locator("..").inner_text()
    page.get_by_role("button", name="Enable webhooks").click()
    page.wait_for_url("**notice=plugins.enabled*")
    assert no_horizontal_scroll(page)
    assert page.csp_violations == []


@pytest.mark.parametrize("options", [{}, PHONE], ids=["desktop", "phone"])
def test_a_viewer_reads_and_is_refused(signed_in, live, tenant, client, options):
    connect(client, tenant)
    page = signed_in("viewer", **options)
    assert page.locator('li[data-plugin="webhooks"]').is_visible()
    assert page.locator('li[data-account="acc_1"]').is_visible()
    assert page.get_by_role("button", name="Disable webhooks").count() == 0
    assert page.get_by_role("button", name="Create key").count() == 0
    assert page.get_by_role("button", name="Disconnect @user-0001").count() == 0
    # The server refuses the form anyway: sent with the viewer's session and its CSRF value.
    csrf = page.locator('input[name="csrf"]').first.input_value()
    answer = page.context.request.post(live + "/app/integrations/plugins/webhooks",
                                       form={"csrf": csrf, "enabled": "false"}, max_redirects=0)
    assert answer.status == 403 and "does not allow this" in answer.text()
    with db.connection_context():
        assert plugin_enabled(tenant.workspace.id, "webhooks") is True
    assert no_horizontal_scroll(page)


def test_keyboard_only(signed_in):
    page = signed_in("owner")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.get_by_label("New key's name").focus()
    page.keyboard.type("Typed")
    page.keyboard.press("Enter")  # submits the form it is in
    page.wait_for_url("**notice=keys.created*")
    with db.connection_context():
        assert ApiKey.get(ApiKey.name == "Typed").scopes == ["posts:read", "posts:write"]
    focused = page.get_by_role("button", name="Revoke Typed")
    focused.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.keyboard.press("Enter")
    page.wait_for_url("**notice=keys.revoked*")


def test_screenshot(signed_in, client, tenant, receiver, redis_client, tmp_path):
    """The page as an admin sees it, with a key, an account and a webhook with deliveries (kept in
    docs/integrations.png with HERALD_INTEGRATIONS_SCREENSHOT)."""
    connect(client, tenant)
    page = signed_in("admin")
    page.get_by_label("Endpoint URL").fill(receiver.url())
    page.get_by_role("button", name="Add webhook").click()
    page.wait_for_url("**notice=webhooks.created*")
    page.locator("li[data-webhook]").get_by_role("button", name="Send test").click()
    page.wait_for_url("**notice=webhooks.tested*")
    work(redis_client)
    page.goto(page.url.split("?")[0])
    page.locator("details").first.locator("summary").click()
    shot = tmp_path / "integrations.png"
    page.screenshot(path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1100, "height": 2400})
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    keep = os.environ.get("HERALD_INTEGRATIONS_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
