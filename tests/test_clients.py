"""/api/clients."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_error
from herald.db.models import Client, Post


def test_create_get_update_list_client(client, tenant):
    created = client.post("/api/clients", json={"name": "Bakery", "brand_voice": "Warm", "timezone": "Europe/Berlin"},
                          headers=tenant.headers)
    assert created.status_code == 201
    body = created.get_json()["client"]
    assert body["timezone"] == "Europe/Berlin"
    path = f"/api/clients/{body['id']}"
    assert client.get(path, headers=tenant.headers).get_json()["client"]["name"] == "Bakery"
    patched = client.patch(path, json={"brand_voice": "Warm, playful"}, headers=tenant.headers)
    assert patched.get_json()["client"]["brand_voice"] == "Warm, playful"
    listed = client.get("/api/clients", headers=tenant.headers).get_json()
    assert listed["total"] == 2
    assert [c["name"] for c in listed["clients"]] == [tenant.client.name, "Bakery"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "Factory", "posixrules", "right/UTC", "posix/UTC",
                                  "../zoneinfo/UTC", "europe/berlin"])
def test_bad_timezone_is_400(client, tenant, zone):
    """Only names the zone database lists: not the server's own ``localtime``, nor files that are not places."""
    response = client.post("/api/clients", json={"name": "X", "timezone": zone}, headers=tenant.headers)
    assert_error(response, 400, "validation_error", "timezone")
    response = client.patch("/api/workspace", json={"timezone": zone}, headers=tenant.headers)
    assert_error(response, 400, "validation_error", "timezone")


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT-14"])
def test_iana_zones_are_accepted(client, tenant, zone):
    response = client.post("/api/clients", json={"name": "X", "timezone": zone}, headers=tenant.headers)
    assert response.status_code == 201 and response.get_json()["client"]["timezone"] == zone


def test_missing_name_is_400(client, tenant):
    assert_error(client.post("/api/clients", json={}, headers=tenant.headers), 400, "validation_error", "name")


def test_empty_patch_is_400(client, tenant):
    response = client.patch(f"/api/clients/{tenant.client.id}", json={}, headers=tenant.headers)
    assert_error(response, 400, "validation_error")


def test_bad_limit_is_400(client, tenant):
    assert_error(client.get("/api/clients?limit=abc", headers=tenant.headers), 400, "validation_error", "limit")


def test_delete_archives_client_and_keeps_posts(client, tenant):
    client.post("/api/webhooks", headers=tenant.headers,
                json={"action": "create_post", "client_id": tenant.client.id, "caption": "keep me"})
    assert client.delete(f"/api/clients/{tenant.client.id}", headers=tenant.headers).status_code == 200
    assert_error(client.get(f"/api/clients/{tenant.client.id}", headers=tenant.headers), 404, "not_found")
    assert Client.get_by_id(tenant.client.id).deleted_at is not None
    assert Post.select().where(Post.caption == "keep me").count() == 1


def test_time_zones_work_on_a_system_without_zone_files(tmp_path):
    """Slim and Alpine images have no /usr/share/zoneinfo: the tzdata package stands in, so a client's
    zone is neither refused nor silently read as UTC."""
    script = textwrap.dedent("""
        import datetime as dt
        import zoneinfo
        from herald.publishing import schedule
        from herald.web.api.clients import check_timezone

        assert zoneinfo.TZPATH == (), zoneinfo.TZPATH  # no system zone files at all
        assert check_timezone("America/New_York") == "America/New_York"
        july = dt.datetime(2026, 7, 1, 12, tzinfo=schedule.zone("America/New_York"))
        assert july.utcoffset() == dt.timedelta(hours=-4), july.utcoffset()
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONTZPATH": ""})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
