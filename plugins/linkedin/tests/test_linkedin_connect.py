"""Connecting LinkedIn Pages (OAuth as a Page administrator, or a pasted member token), and keeping the
member's token alive (refresh, health check), against the fake LinkedIn over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fake_linkedin import CLIENT_ID, MEMBER_TOKEN, ORG_ID, ORG_NAME, OTHER_ORG_ID, OTHER_ORG_NAME, OTHER_TOKEN
from linkedin_steps import *  # noqa: F403 (the fixtures)
from linkedin_steps import PUBLIC, connect, publish, task_of


def start(api, workspace, **body):
    answer = api.post("/v1/accounts/connect", headers=workspace.headers, json={"platform": "linkedin", **body})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def consent(linkedin, started, token=OTHER_TOKEN):
    """The member's browser in LinkedIn's dialog: log in, agree; LinkedIn hands back a code."""
    return linkedin.authorize(token, parse_qs(urlsplit(started["authorization_url"]).query)["redirect_uri"][0])


def test_a_page_administrator_connects_every_page_they_administer(api, herald_workspace, linkedin):
    started = start(api, herald_workspace)
    dialog = urlsplit(started["authorization_url"])
    query = parse_qs(dialog.query)
    assert f"{dialog.scheme}://{dialog.netloc}{dialog.path}" == linkedin.url + "/oauth/v2/authorization"
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{PUBLIC}/v1/accounts/callback/linkedin"]
    assert query["scope"] == ["w_organization_social r_organization_social rw_organization_admin"]
    answer = api.get("/v1/accounts/callback/linkedin",
                     query_string={"code": consent(linkedin, started), "state": started["state"]})
    assert answer.status_code == 200, answer.get_json()
    accounts = answer.get_json()["accounts"]
    assert sorted(account["username"] for account in accounts) == sorted([ORG_NAME, OTHER_ORG_NAME])
    assert all(account["token_expires_at"] for account in accounts)  # 60 days
    [exchange] = [call for call in linkedin.calls if call.path == "/oauth/v2/accessToken"]
    assert exchange.form["grant_type"] == "authorization_code"
    assert exchange.form["redirect_uri"] == f"{PUBLIC}/v1/accounts/callback/linkedin"


def test_a_refused_code_is_a_400_on_the_code(api, herald_workspace, linkedin):
    started = start(api, herald_workspace)
    answer = api.get("/v1/accounts/callback/linkedin", query_string={"code": "AQT-forged", "state": started["state"]})
    assert answer.status_code == 400, answer.get_json()
    assert "authorization code not found" in answer.get_json()["error"]["message"]


def test_without_the_app_configured_oauth_says_what_to_set(herald_app_factory, herald_workspace, linkedin):
    client = herald_app_factory(linkedin_api_url=linkedin.url, public_url=PUBLIC).test_client()
    answer = client.post("/v1/accounts/connect", headers=herald_workspace.headers, json={"platform": "linkedin"})
    assert answer.status_code >= 400
    assert "HERALD_LINKEDIN_CLIENT_ID" in str(answer.get_json())


def test_a_pasted_token_of_one_pages_administrator_connects_that_page(api, herald_workspace, linkedin):
    answer = connect(api, herald_workspace)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["username"] == ORG_NAME


def test_a_pasted_token_must_name_one_page_and_work(api, herald_workspace, linkedin):
    several = connect(api, herald_workspace, {"platform": "linkedin", "access_token": OTHER_TOKEN})
    assert several.status_code == 400 and OTHER_ORG_ID in several.get_json()["error"]["message"]
    linkedin.members["AQV-nobody"] = {"person": "urn:li:person:zzz", "orgs": []}
    none = connect(api, herald_workspace, {"platform": "linkedin", "access_token": "AQV-nobody"})
    assert none.status_code == 400 and "administers no Page" in none.get_json()["error"]["message"]
    wrong = connect(api, herald_workspace, {"platform": "linkedin", "access_token": "AQV-revoked"})
    assert wrong.status_code == 400 and "Invalid access token" in wrong.get_json()["error"]["message"]
    linkedin.unavailable()
    down = connect(api, herald_workspace)
    assert down.status_code == 503, down.get_json()


def test_a_token_running_out_is_refreshed_with_the_refresh_token(api, herald_workspace, herald_jobs, linkedin):
    started = start(api, herald_workspace)
    answer = api.get("/v1/accounts/callback/linkedin", query_string={
        "code": consent(linkedin, started, MEMBER_TOKEN), "state": started["state"]})
    [account] = answer.get_json()["accounts"]
    herald_jobs.advance(31 * 86400)  # 29 days left: within the 30 days before expiry
    herald_jobs.cron()
    [refresh] = [call for call in linkedin.calls if call.path == "/oauth/v2/accessToken"
                 and call.form["grant_type"] == "refresh_token"]
    assert refresh.form["client_id"] == CLIENT_ID
    post_id = publish(api, herald_workspace, account["id"])
    herald_jobs.run()
    assert task_of(api, herald_workspace, post_id)["status"] == "published"
    [create] = [call for call in linkedin.calls if call.method == "POST" and call.path == "/rest/posts"]
    assert create.header("Authorization").startswith("Bearer AQV-refreshed-")  # the new token publishes


def test_the_health_check_marks_an_expired_token_and_a_lost_admin_role(api, herald_workspace, herald_jobs,
                                                                        linkedin, account):
    herald_jobs.cron()
    assert api.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()["status"] == "active"
    linkedin.members[MEMBER_TOKEN]["orgs"] = []
    herald_jobs.advance(6 * 3600 + 1)
    herald_jobs.cron()
    detail = api.get(f"/v1/accounts/{account}", headers=herald_workspace.headers).get_json()
    assert detail["status"] == "invalid", detail
    assert ORG_ID not in linkedin.members[MEMBER_TOKEN]["orgs"]
