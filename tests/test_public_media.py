"""Signed public media links (how platforms fetch uploads) and the HERALD_PUBLIC_URL check."""

from __future__ import annotations

import pytest
from graph_drive import JPEG, upload_jpeg

from conftest import assert_error
from herald.config import Config
from herald.db.models import Media, db
from herald.media.public_links import public_base_problem, public_url


@pytest.mark.parametrize("base, problem", [
    (None, "needs HERALD_PUBLIC_URL"),
    ("http://127.0.0.1:5000", "loopback or private"),
    ("https://localhost", "this machine"),
    ("https://10.0.0.5", "loopback or private"),
    ("http://169.254.169.254", "cannot reach"),
    ("https://93.184.215.14", None),
])
def test_public_url_must_be_reachable_by_the_platforms(base, problem):
    found = public_base_problem(Config(public_url=base))
    assert (found is None) if problem is None else (problem in found), found


def test_signed_link_serves_the_file_and_forged_links_are_404(client, tenant, config):
    media_id = upload_jpeg(client, tenant)
    with db.connection_context():
        row = Media.get_by_id(media_id)
    link = public_url(Config(public_url="https://herald.test"), config.secret_key, row)
    path = link.removeprefix("https://herald.test")
    response = client.get(path)
    assert response.status_code == 200 and response.data == JPEG and response.mimetype == "image/jpeg"
    token = path.split("/")[2]
    tampered = token[:-2] + ("yy" if token.endswith("xx") else "xx")  # never the token itself
    assert_error(client.get(path.replace(token, tampered)), 404, "not_found")
    assert_error(client.get(f"/media/{token}x/bread.jpg"), 404, "not_found")
