"""Connecting an account from the Integrations page in a real browser, through the platform's sign-in:
Chromium logs in, presses Connect for Instagram, follows the link to the (fake) Facebook Login dialog,
which consents and sends it to Herald's callback, and comes back to the page with the account connected.
The Meta plugins' flow itself is tested in plugins/graph/tests/test_oauth_connect.py."""

from __future__ import annotations

import pytest
from app_support import PASSWORD, make_user
from browser_support import chromium, serving
from redis_server import free_port

from fakes.graph import APP_ID, APP_SECRET, FB_USER_ID, IG_USERNAME
from herald.db.models import Account, db

PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def app(build_app, fake):
    """Herald with the Meta plugins on the fake Graph API (its Login dialog too), public at ``BASE``."""
    return build_app(**fake.hosts(), public_url=BASE, meta_app_id=APP_ID, meta_app_secret=APP_SECRET)


@pytest.fixture
def live(app):
    with serving(app, "integrations-oauth-server", PORT) as url:
        yield url


@pytest.fixture
def page(live, app, tenant):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        opened = context.new_page()
        opened.goto(live + "/app/integrations")
        opened.get_by_label("Email").fill(make_user(app, tenant, "admin"))
        opened.get_by_label("Password").fill(PASSWORD)
        opened.get_by_label("Password").press("Enter")
        opened.wait_for_url("**/app/integrations")
        yield opened


def test_connect_instagram_through_the_sign_in_dialog(page, fake, tenant):
    fake.dialog_user = FB_USER_ID  # signed in to Facebook, consenting
    page.get_by_label("Connect with the platform's sign-in").select_option("instagram")
    page.get_by_role("button", name="Connect", exact=True).click()
    continue_link = page.locator("#continue")
    assert continue_link.inner_text() == "Continue to Instagram"
    continue_link.click()
    page.wait_for_url("**/app/integrations?connected=acc_*")
    assert page.locator("#notice").inner_text() == "Account connected."
    with db.connection_context():
        [account] = list(Account.select().where(Account.workspace == tenant.workspace.id))
    assert (account.platform, account.username, account.status) == ("instagram", IG_USERNAME, "active")
    assert page.locator(f'[data-account="acc_{account.id}"]').count() == 1

    fake.dialog_user = None  # declines this time
    page.get_by_label("Connect with the platform's sign-in").select_option("facebook")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.locator("#continue").click()
    page.wait_for_url("**/app/integrations?error=access_denied*")
    assert "declined" in page.locator("#notice").inner_text()
