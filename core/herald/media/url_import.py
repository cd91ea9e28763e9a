"""Media from a URL: downloaded through the SSRF guard and held to the same checks as an upload.

``POST /api/media`` with ``{"url": …}``, and media URLs given to ``POST /v1/publish`` or the
``create_post`` action, come through here. :func:`fetch` GETs the URL with
:func:`herald.net.http.get_checked` (every hop, redirects included, checked by the guard before it
is connected to; at most :data:`MAX_REDIRECTS`; the whole download within the configured timeout),
streams the body into a :class:`~herald.media.uploads.HashingSpool` with the upload size limit
(refused at once when Content-Length already says it is over), then sniffs the content type from the
bytes (the server's Content-Type is not trusted) and decodes the file as an upload is decoded.

What a refusal answers:

- 400 ``validation_error``: the URL is not http(s), has credentials, or its host (or a redirect's)
  is loopback, private, link-local, a cloud metadata address or otherwise not on the internet;
- 422 ``media_fetch_failed``: the host does not resolve or answer, the answer is not 2xx, it is too
  slow, cut short, or redirects too often;
- 413 ``payload_too_large`` and 415 ``unsupported_media_type``: as an upload.

Every error names the field the URL came in (``url``, ``media.2``). Nothing is written to the
database while a URL is being fetched: :func:`import_urls` fetches and checks every URL of a
request first, then records them (a row each, as uploads are).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import posixpath
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..db import unstorable_text
from ..db.models import Media
from ..errors import HeraldError, PayloadTooLarge, ValidationError
from ..net import guard as netguard
from ..net import http
from .configured import media_store
from .facts import MediaFacts
from .uploads import HashingSpool, facts_columns, inspect_spool, size_limit_message, stored

log = logging.getLogger("herald.media.url_import")

MAX_REDIRECTS = 3
USER_AGENT = "Herald/0.1 (+media import)"
ACCEPT = "image/jpeg,image/png,image/webp,video/mp4,video/quicktime;q=0.9,*/*;q=0.1"
URL_PREFIXES = ("http://", "https://")


class MediaFetchFailed(HeraldError):
    """422: a media URL could not be downloaded (unreachable, not 2xx, too slow, too many redirects)."""

    code = "media_fetch_failed"


def is_url(value) -> bool:
    """Whether a ``media`` item is a URL to import rather than a media id."""
    return isinstance(value, str) and value.lower().startswith(URL_PREFIXES)


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A downloaded file that passed every check, not stored yet (see :func:`fetch`)."""

    url: str  # where it was finally found (after redirects)
    filename: str
    content_type: str
    size: int
    sha256: str
    facts: MediaFacts
    spool: HashingSpool

    def discard(self) -> None:
        """Delete the downloaded file (no-op once it has been stored)."""
        self.spool.discard()


def filename_for(url: str) -> str:
    """The name a downloaded file is listed under: the URL path's last segment, else its host."""
    parts = urlsplit(url)
    name = posixpath.basename(unquote(parts.path)) or parts.hostname or "download"
    return unstorable_text.strip(name)[:255] or "download"


def fetch(config: Config, url: str, field: str = "url") -> Fetched:
    """Download ``url`` through the SSRF guard and check it as an upload is checked; nothing is stored.

    The caller stores the result (:func:`record`) or :meth:`Fetched.discard` s it. Raises the
    refusals listed in the module's documentation, each naming ``field``.
    """
    spool = HashingSpool(config.media_dir / "tmp", config.max_upload_bytes)
    try:
        final_url = _download(config, url, spool, field)
        content_type, facts = inspect_spool(spool)
    except HeraldError as exc:
        spool.discard()
        exc.field = field
        raise
    except BaseException:
        spool.discard()
        raise
    return Fetched(final_url, filename_for(final_url), content_type, spool.size, spool.sha256, facts, spool)


def inspect_url(config: Config, url: str, field: str = "url") -> dict:
    """What importing ``url`` would record (content type, size, SHA-256, decoded facts), without
    storing anything: for a dry run. Raises as :func:`fetch` does."""
    fetched = fetch(config, url, field)
    fetched.discard()
    return {"url": url, "filename": fetched.filename, "content_type": fetched.content_type, "size": fetched.size,
            "sha256": fetched.sha256, **facts_columns(fetched.facts)}


def _download(config: Config, url: str, spool: HashingSpool, field: str) -> str:
    """Stream ``url`` into ``spool``; returns the URL the file was found at."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    log.info("Importing media from %s", url)
    try:
        with http.get_checked(url, headers, allow_private=config.fetch_allow_private, max_redirects=MAX_REDIRECTS,
                              timeout=config.media_fetch_timeout_seconds) as (final, answer):
            if not 200 <= answer.status < 300:
                raise MediaFetchFailed(f"{final} answered HTTP {answer.status}, not the file.", field=field)
            declared = answer.declared_length
            if declared is not None and declared > config.max_upload_bytes:
                raise PayloadTooLarge(size_limit_message(config.max_upload_bytes), field=field)
            for chunk in answer.chunks():
                spool.write(chunk)
            return final
    except netguard.Unresolvable as exc:
        raise MediaFetchFailed(f"{url} cannot be fetched: {exc.reason}.", field=field) from None
    except netguard.BlockedURL as exc:
        raise ValidationError(f"This URL cannot be fetched: {exc.reason}. Only public http(s) addresses are "
                              "fetched (loopback, private, link-local and cloud metadata addresses are not).",
                              field=field) from None
    except http.TooManyRedirects as exc:
        raise MediaFetchFailed(f"{url} cannot be fetched: {exc}.", field=field) from None
    except (http.SendFailed, http.AnswerLost) as exc:
        if isinstance(exc.reason, TimeoutError):
            raise MediaFetchFailed(f"{url} was not downloaded within {config.media_fetch_timeout_seconds:g} s.",
                                   field=field) from None
        raise MediaFetchFailed(f"{url} could not be downloaded: {exc}.", field=field) from None


@contextlib.contextmanager
def _kept(config: Config, fetched: Fetched) -> Iterator[dict]:
    """Put a fetched file in the media store for the block that records it (see :func:`stored`)."""
    with stored(fetched.spool, media_store(config), checked=(fetched.content_type, fetched.facts)) as file:
        yield {"filename": fetched.filename, "content_type": file.content_type, "size": fetched.size,
               "sha256": fetched.sha256, "path": file.path, **facts_columns(file.facts)}


def record(config: Config, workspace_id: int, fetched: list[Fetched]) -> list[Media]:
    """Store the fetched files and create their media rows, one after the other as uploads are
    (each file is stored under a lock on its directory that two files may share)."""
    rows = []
    for item in fetched:
        with _kept(config, item) as values:
            rows.append(Media.create(workspace=workspace_id, **values))
    return rows


def import_url(config: Config, workspace_id: int, url: str, field: str = "url") -> Media:
    """Download ``url``, check it and record it as the workspace's media (``POST /api/media`` with a URL)."""
    fetched = fetch(config, url, field)
    try:
        [row] = record(config, workspace_id, [fetched])
    finally:
        fetched.discard()
    return row


def import_urls(config: Config, workspace_id: int, values: list, field: str = "media") -> list:
    """``values`` (a request's ``media``) with each URL replaced by the id of the media imported from it.

    Every URL is fetched and checked before anything is recorded, so a refused one leaves no media
    behind; the error names its place (``media.2``). Ids pass through as they are.
    """
    if not any(is_url(value) for value in values):
        return list(values)
    fetched: dict[int, Fetched] = {}
    try:
        for index, value in enumerate(values):
            if is_url(value):
                fetched[index] = fetch(config, value, f"{field}.{index}")
        rows = dict(zip(fetched, record(config, workspace_id, list(fetched.values())), strict=True))
    finally:
        for item in fetched.values():
            item.discard()
    return [rows[index].id if index in rows else value for index, value in enumerate(values)]
