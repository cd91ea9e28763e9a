"""Media from a URL: POST /api/media with {"url": ...}, and media URLs in POST /v1/publish and create_post.

Files come from a file server on loopback (allowed with fetch_allow_private, as in a closed network).
Refused addresses are literal IPs and metadata names that the SSRF guard refuses before anything
connects: every connection Herald opens is recorded, and none may go anywhere but loopback.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import media_samples
import pytest
from graph_drive import connect_account
from media_store_support import STORES, config_on

from conftest import assert_error
from fakes.graph import IG_TOKEN, PAGE_TOKEN
from herald.db.models import Media, Post, db, utcnow
from herald.media.configured import media_store
from herald.net import http as nethttp

PNG = media_samples.png(4, 3)
JPEG = media_samples.jpeg(8, 6)
LOAF = media_samples.jpeg(6, 8)
MP4 = media_samples.mp4()
LIMIT = 64 * 1024
LATER = f"{utcnow().year + 1}-06-01T09:00:00Z"


class FileServer:
    """Serves files and misbehaviours on loopback; counts requests per path."""

    def __init__(self):
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                routes = {
                    "/pictures/bread.png": lambda: self.send(200, PNG, {"Content-Type": "text/plain"}),
                    "/photo.jpg": lambda: self.send(200, JPEG, {"Content-Type": "image/jpeg"}),
                    "/pictures/loaf.jpg": lambda: self.send(200, LOAF),
                    "/clip.mp4": lambda: self.send(200, MP4, {"Content-Type": "video/mp4"}),
                    "/moved": lambda: self.send(302, headers={"Location": "/pictures/bread.png"}),
                    "/to-metadata": lambda: self.send(302, headers={
                        "Location": "http://169.254.169.254/latest/meta-data/"}),
                    "/loop": lambda: self.send(302, headers={"Location": "/loop"}),
                    "/missing.png": lambda: self.send(404, b"not here"),
                    "/page.html": lambda: self.send(200, b"<html><body>hello</body></html>",
                                                    {"Content-Type": "image/png"}),
                    "/broken.png": lambda: self.send(200, PNG[:40], {"Content-Type": "image/png"}),
                    "/declared-huge.png": lambda: self.send(200, b"", {"Content-Length": str(LIMIT + 1)}),
                    "/cut.png": lambda: self.cut(),
                    "/endless.png": lambda: self.endless(),
                    "/slow.png": lambda: self.slow(),
                }
                routes.get(self.path, lambda: self.send(404))()

            def cut(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG[:20])
                self.close_connection = True

            def endless(self):  # chunked, no Content-Length: only the bytes themselves pass the limit
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = PNG + bytes(8192)
                try:
                    for _ in range(LIMIT // len(block) + 4):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # Herald hung up once over the limit
                self.close_connection = True

            def slow(self):
                server.release.wait(10)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def config(config, request):
    """The tests marked ``parametrize("config", STORES, indirect=True)`` run on the local and the S3 store."""
    return config_on(request, config)


@pytest.fixture
def files():
    server = FileServer()
    yield server
    server.stop()


@pytest.fixture
def connections(monkeypatch):
    """Every address Herald's outbound client opens a connection to during the test."""
    opened: list[str] = []
    original = nethttp._open

    def recording_open(address, port, timeout):
        opened.append(address)
        return original(address, port, timeout)

    monkeypatch.setattr(nethttp, "_open", recording_open)
    return opened


@pytest.fixture
def app(build_app, fake):
    return build_app(**fake.hosts(), fetch_allow_private=True, max_upload_bytes=LIMIT,
                     media_fetch_timeout_seconds=0.5, public_url="https://herald.test")


def import_url(client, tenant, url):
    return client.post("/api/media", headers=tenant.headers, json={"url": url})


def media_rows() -> list[Media]:
    with db.connection_context():
        return list(Media.select().order_by(Media.id))


def leftover_files(config) -> list:
    tmp = config.media_dir / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


# -- POST /api/media with a URL --------------------------------------------------------------------


@pytest.mark.parametrize("config", STORES, indirect=True)
def test_a_url_is_downloaded_sniffed_decoded_and_recorded_as_an_upload_is(client, tenant, files, config, connections):
    response = import_url(client, tenant, files.url("/pictures/bread.png"))
    assert response.status_code == 201, response.get_json()
    media = response.get_json()["media"]
    # The type is read from the bytes: the server called it text/plain.
    assert (media["content_type"], media["width"], media["height"]) == ("image/png", 4, 3)
    assert (media["size"], media["sha256"]) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert media["filename"] == "bread.png"
    assert media_store(config).get(f"{media['sha256'][:2]}/{media['sha256']}.png") == PNG
    assert client.get(f"/api/media/{media['id']}", headers=tenant.headers).get_json()["media"] == media
    assert set(connections) == {"127.0.0.1"} and leftover_files(config) == []


def test_a_video_url_is_imported_with_its_facts(client, tenant, files):
    media = import_url(client, tenant, files.url("/clip.mp4")).get_json()["media"]
    assert media["content_type"] == "video/mp4" and media["video_codec"] == "h264" and media["duration_seconds"]


def test_a_redirect_is_followed_and_the_file_named_after_where_it_was_found(client, tenant, files):
    media = import_url(client, tenant, files.url("/moved")).get_json()["media"]
    assert media["filename"] == "bread.png" and media["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert files.requests == ["/moved", "/pictures/bread.png"]


@pytest.mark.parametrize("url,why", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://10.0.0.1/picture.png", "10.0.0.1 is a loopback or private address"),
    ("http://192.168.1.20/picture.png", "192.168.1.20 is a loopback or private address"),
    ("http://[fe80::1]/picture.png", "link-local"),
    ("http://[::ffff:169.254.169.254]/x.png", "cloud metadata address"),
    ("http://0x7f.0.0.1/picture.png", "127.0.0.1 is a loopback or private address"),
    ("http://localhost/picture.png", "localhost is this machine"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata host"),
    ("https://user:secret@example.com/x.png", "user name or password"),
])
def test_private_link_local_and_metadata_addresses_are_refused_before_any_connection(
        build_app, make_tenant, connections, config, url, why):
    client = build_app().test_client()  # fetch_allow_private off: a server on the internet
    error = assert_error(client.post("/api/media", headers=make_tenant().headers, json={"url": url}),
                         400, "validation_error", "url")
    assert why in error["message"] and "This URL cannot be fetched" in error["message"]
    assert connections == [] and media_rows() == [] and leftover_files(config) == []


def test_metadata_is_refused_even_where_private_addresses_are_allowed(client, tenant, connections):
    error = assert_error(import_url(client, tenant, "http://169.254.169.254/latest/meta-data/"),
                         400, "validation_error", "url")
    assert "cloud metadata address" in error["message"] and connections == []


def test_a_redirect_to_a_metadata_address_is_refused_before_following_it(client, tenant, files, connections):
    error = assert_error(import_url(client, tenant, files.url("/to-metadata")), 400, "validation_error", "url")
    assert ("redirects to http://169.254.169.254/latest/meta-data/, which is refused: 169.254.169.254 is a cloud "
            "metadata address") in error["message"]
    assert set(connections) == {"127.0.0.1"} and files.requests == ["/to-metadata"]


def test_http_errors_redirect_loops_and_closed_ports_are_422(client, tenant, files):
    error = assert_error(import_url(client, tenant, files.url("/missing.png")), 422, "media_fetch_failed", "url")
    assert "answered HTTP 404" in error["message"]
    error = assert_error(import_url(client, tenant, files.url("/loop")), 422, "media_fetch_failed", "url")
    assert "redirects more than 3 times" in error["message"] and files.requests.count("/loop") == 4
    closed = FileServer()
    url = closed.url("/x.png")
    closed.stop()
    error = assert_error(import_url(client, tenant, url), 422, "media_fetch_failed", "url")
    assert "could not be downloaded" in error["message"]
    assert media_rows() == []


def test_a_server_that_does_not_answer_in_time_is_422(client, tenant, files, config):
    error = assert_error(import_url(client, tenant, files.url("/slow.png")), 422, "media_fetch_failed", "url")
    assert "was not downloaded within 0.5 s" in error["message"]
    assert media_rows() == [] and leftover_files(config) == []


def test_a_body_cut_short_is_422(client, tenant, files, config):
    assert_error(import_url(client, tenant, files.url("/cut.png")), 422, "media_fetch_failed", "url")
    assert media_rows() == [] and leftover_files(config) == []


def test_a_file_over_the_limit_is_413_as_an_upload_declared_or_not(client, tenant, files, config):
    error = assert_error(import_url(client, tenant, files.url("/declared-huge.png")), 413, "payload_too_large", "url")
    assert error["message"] == "The file is larger than the 65536 bytes limit."
    assert_error(import_url(client, tenant, files.url("/endless.png")), 413, "payload_too_large", "url")
    assert media_rows() == [] and leftover_files(config) == []


def test_content_that_is_not_an_image_or_video_is_415_whatever_its_content_type(client, tenant, files, config):
    assert_error(import_url(client, tenant, files.url("/page.html")), 415, "unsupported_media_type", "url")
    error = assert_error(import_url(client, tenant, files.url("/broken.png")), 415, "unsupported_media_type", "url")
    assert "could not be read as an image or a video" in error["message"]
    assert media_rows() == [] and leftover_files(config) == []


@pytest.mark.parametrize("body", [{"url": "ftp://example.com/x.png"}, {"url": ""}, {}, {"url": 5},
                                  {"url": "https://example.com/x.png", "file": "x"}])
def test_a_body_that_is_not_one_url_is_400(client, tenant, body, connections):
    assert_error(client.post("/api/media", headers=tenant.headers, json=body), 400, "validation_error")
    assert connections == []


# -- media URLs where posts are made ---------------------------------------------------------------


def test_publish_imports_media_urls_and_uses_their_ids(client, tenant, files):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    uploaded = import_url(client, tenant, files.url("/photo.jpg")).get_json()["media"]["id"]
    response = client.post("/v1/publish", headers=tenant.headers, json={  # the 6 × 8 loaf is padded for Instagram
        "content": "Fresh bread", "accounts": [account], "schedule": LATER, "fit": "pad",
        "media": [files.url("/pictures/loaf.jpg"), f"media_{uploaded}"]})
    assert response.status_code == 201, response.get_json()
    imported = media_rows()[-1]
    assert (imported.filename, imported.sha256) == ("loaf.jpg", hashlib.sha256(LOAF).hexdigest())
    assert (imported.content_type, imported.width, imported.height) == ("image/jpeg", 6, 8)
    assert response.get_json()["media"] == [f"media_{imported.id}", f"media_{uploaded}"]


def test_publish_with_a_refused_url_names_its_place_and_creates_nothing(client, tenant, files, connections):
    account = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    before = len(media_rows())
    payload = {"content": "x", "accounts": [account], "schedule": LATER,
               "media": [files.url("/photo.jpg"), "http://169.254.169.254/x.png"]}
    assert_error(client.post("/v1/publish", headers=tenant.headers, json=payload), 400, "validation_error", "media.1")
    payload["media"] = [files.url("/photo.jpg"), files.url("/missing.png")]
    assert_error(client.post("/v1/publish", headers=tenant.headers, json=payload), 422, "media_fetch_failed",
                 "media.1")
    with db.connection_context():
        assert Post.select().count() == 0
    assert len(media_rows()) == before  # the first URL was fetched, but nothing is recorded when one fails
    assert "169.254.169.254" not in connections


def test_a_batch_names_media_ids_not_urls(client, tenant, files):
    account = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    post = {"content": "x", "accounts": [account], "schedule": LATER, "media": [files.url("/a.png")]}
    error = assert_error(client.post("/v1/publish/batch", headers=tenant.headers, json={"posts": [post]}),
                         400, "validation_error", "posts.0.media.0")
    assert "POST /api/media" in error["message"] and files.requests == []


def test_create_post_imports_media_urls(client, tenant, files):
    response = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Bread",
        "media": [files.url("/pictures/bread.png")]})
    assert response.status_code == 201, response.get_json()
    [row] = media_rows()
    assert response.get_json()["post"]["media"] == [row.id] and row.content_type == "image/png"
    assert_error(client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": "Bread",
        "media": ["http://169.254.169.254/x.png"]}),
        400, "validation_error", "media.0")


def test_a_dry_run_fetches_and_checks_media_urls_but_stores_nothing(client, tenant, files, config):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    before = len(media_rows())
    url = files.url("/photo.jpg")
    tall = client.post("/v1/publish", headers=tenant.headers, json={  # 6 × 8: taller than Instagram takes
        "content": "Fresh bread", "accounts": [account], "schedule": LATER, "media": [files.url("/pictures/loaf.jpg")],
        "dry_run": True})
    assert files.url("/pictures/loaf.jpg") in assert_error(tall, 400, "validation_error", "media.0")["message"]
    response = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "Fresh bread", "accounts": [account], "schedule": LATER, "media": [url], "dry_run": True})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["dry_run"], body["media"]) == (True, [url])
    assert [task["account_id"] for task in body["tasks"]] == [account]
    assert files.requests == ["/pictures/loaf.jpg", "/photo.jpg"]
    assert len(media_rows()) == before and leftover_files(config) == []
    with db.connection_context():
        assert Post.select().count() == 0
    refused = client.post("/v1/publish", headers=tenant.headers, json={
        "content": "x", "accounts": [account], "schedule": LATER, "media": [files.url("/missing.png")],
        "dry_run": True})
    assert_error(refused, 422, "media_fetch_failed", "media.0")
