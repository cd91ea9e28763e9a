"""Tokens kept alive, against the fake Graph API: the token check requests a refresh (a ``token_refresh``
work row), a worker runs it, on both hosts (``graph.instagram.com`` for Instagram Login,
``graph.facebook.com``'s ``fb_exchange_token`` for a Facebook user token), with transient failures
retried by the work kernel and permanent ones marking the account ``needs_reconnect``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
from graph_drive import connect_account, ig_account, instagram

from conftest import with_changes
from drive import advance, work
from fakes.graph import APP_ID, APP_SECRET, FB_USER_ID, FB_USER_TOKEN, PAGE_NAME, PAGE_TOKEN
from herald import chores, crypto
from herald.cli import cli
from herald.config import Config
from herald.db.models import Account, Event, TokenRefresh, db
from herald.platforms import PlatformRejected, PlatformUnavailable
from herald.publishing import token_refresh
from herald.testing import start_app

SECRET = "test-secret-key"
DAY = 86400


@pytest.fixture
def app(clock, config, fake):
    """Herald on the fake Graph API, with the operator's Meta app (for ``fb_exchange_token``)."""
    return start_app(clock, with_changes(config, **fake.hosts(), meta_app_id=APP_ID, meta_app_secret=APP_SECRET))


@pytest.fixture
def graph_config(fake):
    """Plugin settings pointing both hosts at the fake, with the Meta app."""
    return Config().with_settings(**fake.hosts(), meta_app_id=APP_ID, meta_app_secret=APP_SECRET)


def stored(account_id: str) -> Account:
    with db.connection_context():
        return Account.get_by_id(int(account_id.removeprefix("acc_")))


def token_of(account_id: str) -> str:
    return crypto.decrypt(SECRET, stored(account_id).token_encrypted)


def refreshes(account_id: str) -> list[TokenRefresh]:
    with db.connection_context():
        return list(TokenRefresh.select().where(TokenRefresh.account == int(account_id.removeprefix("acc_")))
                    .order_by(TokenRefresh.id))


def events_of(kind: str) -> list[dict]:
    with db.connection_context():
        return [event.data for event in Event.select().where(Event.type == kind).order_by(Event.id)]


def ig_login_account(fake, client, tenant, token: str, ig_id: str, days_left: float) -> str:
    """An Instagram Login account whose token expires in ``days_left`` days, issued more than a day ago."""
    fake.add_ig_user(ig_id, f"user{ig_id[-3:]}", token=token, expires_in=days_left * DAY)
    return connect_account(client, tenant, "instagram", token).get_json()["id"]


def check_tokens(app) -> dict:
    with app.app_context():
        return chores.check_tokens()


# -- graph.instagram.com: Instagram Login --------------------------------------------------------

def test_the_token_check_refreshes_an_instagram_login_token_a_month_before_it_expires(fake, client, tenant, app,
                                                                                     redis_client):
    due = ig_login_account(fake, client, tenant, "IGAA-20-days-left", "17841400000000777", 20)
    lasting = ig_login_account(fake, client, tenant, "IGAA-45-days-left", "17841400000000778", 45)
    fake.advance(DAY + 60)  # Meta refreshes tokens at least 24 hours old
    assert check_tokens(app) == {"active": 2}
    assert [row.status for row in refreshes(due)] == ["queued"] and refreshes(lasting) == []
    assert work(redis_client) == 1
    assert token_of(due).startswith("IGAA-refreshed-") and token_of(lasting) == "IGAA-45-days-left"
    assert stored(due).token_expires_at - app.extensions["herald"].clock.now() > dt.timedelta(days=55)
    [call] = fake.calls("GET", r"refresh_access_token")
    assert call.params == {"grant_type": "ig_refresh_token"} and call.token == "IGAA-20-days-left"
    assert [row.status for row in refreshes(due)] == ["done"]
    [refreshed] = events_of("account.token_refreshed")
    assert refreshed["account"]["id"] == due and refreshed["account"]["token_expires_at"] is not None
    check_tokens(app)  # the new token is far from expiring: no new refresh
    assert len(refreshes(due)) == 1 and work(redis_client) == 0


@pytest.mark.parametrize("code, status, waits", [
    (2, 503, None),  # Meta's "service temporarily unavailable": the kernel's backoff
    (4, None, 600.0),  # the app's rate limit: Meta's window (no usage header: 10 minutes)
])
def test_a_refresh_that_fails_for_a_passing_reason_is_retried_and_the_account_stays_active(
        fake, client, tenant, app, redis_client, code, status, waits):
    account = ig_login_account(fake, client, tenant, "IGAA-busy-token", "17841400000000779", 10)
    fake.advance(DAY + 60)
    fake.fail_next(r"refresh_access_token", code=code, status=status)
    check_tokens(app)
    assert work(redis_client) == 1
    [row] = refreshes(account)
    assert row.status == "retrying" and row.attempts == 1 and f"{code}" in row.error
    now = app.extensions["herald"].clock.now()
    if waits is not None:
        assert row.due_at - now >= dt.timedelta(seconds=waits)
    assert stored(account).status == "active" and token_of(account) == "IGAA-busy-token"
    check_tokens(app)  # the next check finds this refresh under way: no second one
    assert len(refreshes(account)) == 1 and events_of("account.needs_reconnect") == []
    advance(redis_client, (row.due_at - now).total_seconds() + 1)
    assert work(redis_client) == 1
    [row] = refreshes(account)
    assert row.status == "done" and row.error is None and token_of(account).startswith("IGAA-refreshed-")


def test_a_refresh_out_of_attempts_gives_up_and_leaves_the_account_active(fake, client, tenant, app, redis_client):
    account = ig_login_account(fake, client, tenant, "IGAA-down-for-hours", "17841400000000780", 10)
    fake.advance(DAY + 60)
    fake.fail_next(r"refresh_access_token", code=2, status=503, times=None)
    check_tokens(app)
    for _ in range(token_refresh.RETRY.max_attempts):
        advance(redis_client, token_refresh.RETRY.cap + 1)
        work(redis_client)
    [row] = refreshes(account)
    assert row.status == "failed" and row.attempts == token_refresh.RETRY.max_attempts
    assert row.error.startswith("Gave up after 6 attempts") and "the next token check tries again" in row.error
    assert stored(account).status == "active" and token_of(account) == "IGAA-down-for-hours"


def test_a_revoked_token_is_a_permanent_failure_that_asks_for_a_reconnect(fake, client, tenant, app, redis_client):
    account = ig_login_account(fake, client, tenant, "IGAA-revoked", "17841400000000781", 10)
    fake.advance(DAY + 60)
    check_tokens(app)
    fake.invalidate_token("IGAA-revoked", subcode=460)  # the user changed their password meanwhile
    assert work(redis_client) == 1
    [row] = refreshes(account)
    assert row.status == "failed" and row.attempts == 1 and "no longer works: reconnect" in row.error
    assert stored(account).status == "invalid" and "460" in stored(account).status_reason
    [announced] = events_of("account.needs_reconnect")
    assert announced["account"]["id"] == account and events_of("account.token_refreshed") == []


def test_a_refused_refresh_of_a_token_that_still_works_keeps_the_account(fake, client, tenant, app, redis_client):
    account = ig_login_account(fake, client, tenant, "IGAA-young", "17841400000000782", 20)
    check_tokens(app)  # issued less than a day ago: Meta refuses to refresh it (code 100)
    assert work(redis_client) == 1
    [row] = refreshes(account)
    assert row.status == "failed" and "less than 24 hours old" in row.error and "It still works" in row.error
    assert stored(account).status == "active" and token_of(account) == "IGAA-young"
    assert events_of("account.needs_reconnect") == []
    check_tokens(app)  # the next check tries again, with a new refresh
    assert len(refreshes(account)) == 2


def test_a_page_linked_instagram_account_is_never_refreshed(fake, graph_config):
    page_linked = dataclasses.replace(ig_account(), settings={"login": "facebook", "page_id": "1"})
    assert instagram.refresh_token(page_linked, config=graph_config) is None
    assert fake.calls("GET", r"refresh_access_token|oauth/access_token") == []


# -- graph.facebook.com: a Facebook user token, re-exchanged with the Meta app ----------------------

def user_account(token: str = FB_USER_TOKEN):
    """An Instagram account kept with a Facebook Login user token (calls on graph.facebook.com)."""
    return dataclasses.replace(ig_account(token), settings={"login": "facebook", "token_type": "USER"})


def test_a_facebook_user_token_is_re_exchanged_for_a_new_long_lived_one(fake, graph_config):
    fresh = instagram.refresh_token(user_account(), config=graph_config)
    assert fresh.token.startswith("EAAL-long-lived-") and fresh.expires_at is not None
    [call] = fake.calls("GET", r"oauth/access_token")
    assert call.params == {"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET,
                           "fb_exchange_token": FB_USER_TOKEN}
    assert fake.calls("GET", r"refresh_access_token") == []  # not Instagram's host
    no_app = Config().with_settings(**fake.hosts())
    assert instagram.refresh_token(user_account(), config=no_app) is None  # nothing to exchange it with
    assert len(fake.calls("GET", r"oauth/access_token")) == 1


def test_facebook_exchange_failures_are_transient_or_permanent(fake, graph_config):
    fake.fail_next(r"oauth/access_token", code=2, status=503)
    with pytest.raises(PlatformUnavailable):
        instagram.refresh_token(user_account(), config=graph_config)
    fake.fail_next(r"oauth/access_token", code=4)
    with pytest.raises(PlatformUnavailable) as limited:
        instagram.refresh_token(user_account(), config=graph_config)
    assert limited.value.retry_after == 600.0
    fake.invalidate_token(FB_USER_TOKEN, subcode=460)
    with pytest.raises(PlatformRejected, match="460"):
        instagram.refresh_token(user_account(), config=graph_config)


def test_the_token_check_refreshes_a_facebook_user_token_through_a_worker(fake, tenant, app, redis_client):
    now = app.extensions["herald"].clock.now()
    with db.connection_context():
        row = Account.create(workspace=tenant.workspace.id, platform="instagram", external_id=FB_USER_ID,
                             username="ana", token_encrypted=crypto.encrypt(SECRET, FB_USER_TOKEN),
                             token_expires_at=now + dt.timedelta(days=10),
                             settings={"login": "facebook", "token_type": "USER"},
                             status="active", created_at=now, updated_at=now)
    account = f"acc_{row.id}"
    fake.fail_next(r"oauth/access_token", code=1, status=500)  # an unknown error: transient
    check_tokens(app)
    assert work(redis_client) == 1 and refreshes(account)[0].status == "retrying"
    advance(redis_client, token_refresh.RETRY.cap)
    assert work(redis_client) == 1
    assert refreshes(account)[0].status == "done" and token_of(account).startswith("EAAL-long-lived-")
    assert stored(account).token_expires_at - now > dt.timedelta(days=55)
    assert stored(account).status == "active"


# -- the console: herald accounts list|refresh -------------------------------------------------------

@pytest.fixture
def herald_cmd(app):
    """Run ``herald ARGS…`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, [str(arg) for arg in args])


def test_accounts_list_shows_status_expiry_health_and_refreshes(fake, client, tenant, app, herald_cmd, redis_client):
    # 20.5 days: Meta's expiry is in whole seconds, so "20 days" whatever fraction of a second the clocks differ by
    due = ig_login_account(fake, client, tenant, "IGAA-20-days-left", "17841400000000777", 20.5)
    page = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    listed = herald_cmd("accounts", "list")
    assert listed.exit_code == 0, listed.output
    first, second = listed.output.strip().splitlines()
    assert first.startswith(f"{due}  workspace {tenant.workspace.id}  instagram  @user777  active  expires ")
    assert "(in 20 days)" in first and "checked " in first and first.endswith("never refreshed")
    assert second.startswith(f"{page}  workspace {tenant.workspace.id}  facebook  @{PAGE_NAME}  active  expires never")
    assert second.endswith("not refreshable")
    fake.advance(DAY + 60)
    check_tokens(app)
    work(redis_client)
    rows = [json.loads(line) for line in herald_cmd("accounts", "list", "--json").output.splitlines()]
    assert rows[0]["id"] == due and rows[0]["last_refresh"]["status"] == "done" and rows[0]["refreshes_tokens"]
    assert rows[1]["last_refresh"] is None and rows[1]["token_expires_at"] is None and not rows[1]["refreshes_tokens"]
    assert herald_cmd("accounts", "list", "--workspace", "nope").exit_code == 1
    assert herald_cmd("accounts", "list", "--workspace", str(tenant.workspace.id + 1)).exit_code == 1


def test_accounts_refresh_runs_the_refresh_now_with_a_line_per_account(fake, client, tenant, app, herald_cmd,
                                                                       redis_client):
    good = ig_login_account(fake, client, tenant, "IGAA-good-token", "17841400000000783", 50)
    busy = ig_login_account(fake, client, tenant, "IGAA-busy-token", "17841400000000784", 50)
    revoked = ig_login_account(fake, client, tenant, "IGAA-revoked", "17841400000000785", 50)
    page = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    fake.advance(DAY + 60)
    fake.fail_next(r"refresh_access_token", code=2, status=503)
    fake.invalidate_token("IGAA-revoked", subcode=460)
    # The first refresh call fails (code 2): order the accounts so the busy one takes it.
    result = herald_cmd("accounts", "refresh", busy, good, revoked, page)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == f"[1/4] {busy} instagram @user784: refreshing…"
    assert lines[1].startswith(f"[1/4] {busy} instagram @user784: not refreshed yet (") and "tried again at" in lines[1]
    assert lines[3].startswith(f"[2/4] {good} instagram @user783: refreshed: expires ")
    assert re.search(r"\(in (59|60) days\)", lines[3])
    assert lines[5].startswith(f"[3/4] {revoked} instagram @user785: failed: ")
    assert lines[5].endswith("The account needs reconnecting.")
    assert lines[6] == f"[4/4] {page} facebook @{PAGE_NAME}: skipped, facebook does not refresh tokens"
    assert lines[-1] == "3 of 4 accounts refreshed or on their way."
    assert token_of(good).startswith("IGAA-refreshed-") and stored(revoked).status == "invalid"
    assert [row.status for row in refreshes(busy)] == ["retrying"]
    advance(redis_client, token_refresh.RETRY.cap)  # the worker takes the retry
    assert work(redis_client) == 1 and token_of(busy).startswith("IGAA-refreshed-")
    fake.advance(DAY + 60)  # Meta refreshes tokens at least a day old
    again = herald_cmd("accounts", "refresh", "--all")  # every active account with an expiring token
    assert again.exit_code == 0, again.output
    assert again.output.count("refreshed: expires") == 2 and revoked not in again.output


def test_accounts_refresh_needs_accounts_or_all_and_known_ids(tenant, app, herald_cmd):
    assert herald_cmd("accounts", "refresh").exit_code == 2
    assert herald_cmd("accounts", "refresh", "acc_1", "--all").exit_code == 2
    missing = herald_cmd("accounts", "refresh", "acc_999")
    assert missing.exit_code == 1 and "No account 'acc_999'" in missing.output
    assert herald_cmd("accounts", "refresh", "--all").output.strip() == "No account to refresh."
