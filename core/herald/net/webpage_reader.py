"""Fetching a web page through the SSRF guard and reading its text (competitor analysis).

:func:`fetch` checks every URL, redirects included, with :mod:`herald.net.guard` and connects to
the checked addresses only; it reads at most :data:`MAX_BYTES` within :data:`TIMEOUT` seconds.
:func:`extract` turns HTML into the title, the description and the readable text (scripts,
styles, navigation chrome and hidden templates left out), with the stdlib ``html.parser``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from html.parser import HTMLParser
from urllib.parse import urljoin

from ..errors import HeraldError
from . import guard as netguard
from . import http

MAX_BYTES = 2 * 1024 * 1024
TIMEOUT = 10.0  # seconds for the whole fetch, redirects included
MAX_REDIRECTS = 3
MAX_TEXT = 15_000  # characters of page text handed to the AI
USER_AGENT = "Herald/0.1 (+competitor analysis; https://github.com/herald)"
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
SKIPPED = frozenset({"script", "style", "noscript", "svg", "template", "iframe", "canvas", "nav", "footer", "form"})
BLOCKS = frozenset({"p", "div", "section", "article", "li", "br", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "header",
                    "main", "blockquote", "figcaption"})


class FetchFailed(HeraldError):
    """422: the page could not be fetched or has no readable text."""

    code = "fetch_failed"


@dataclasses.dataclass(frozen=True)
class Page:
    """A fetched page: where it ended up, and its text."""

    url: str
    title: str
    description: str
    headings: list[str]
    text: str


def check(url: str, allow_private: bool) -> None:
    """400 naming ``url`` when the SSRF guard refuses it (checked again at fetch time)."""
    try:
        netguard.check_url(url, allow_private=allow_private)
    except netguard.BlockedURL as exc:
        raise HeraldError(f"This URL cannot be fetched: {exc.reason}.", field="url") from None


def fetch(url: str, *, allow_private: bool = False, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> Page:
    """Fetch ``url`` (following up to :data:`MAX_REDIRECTS` checked redirects) and extract its text."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = netguard.check_url(url, allow_private=allow_private)
        except netguard.BlockedURL as exc:
            raise FetchFailed(f"{url} cannot be fetched: {exc.reason}.", field="url") from None
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.5"}
        try:
            response = http.send("GET", target, None, headers, timeout=max(0.1, deadline - time.monotonic()),
                                 read_limit=max_bytes, deadline=deadline)
        except (http.SendFailed, http.AnswerLost) as exc:
            if isinstance(exc.reason, TimeoutError):
                raise FetchFailed(f"{url} did not answer within {timeout:g} s.", field="url") from None
            raise FetchFailed(f"{url} could not be fetched: {exc}.", field="url") from None
        if response.status in (301, 302, 303, 307, 308) and response.headers.get("location"):
            url = urljoin(url, response.headers["location"])
            continue
        if response.status != 200:
            raise FetchFailed(f"{url} answered HTTP {response.status}.", field="url")
        content_type = response.headers.get("content-type", "text/html")
        if content_type.split(";")[0].strip().lower() not in TEXT_TYPES:
            raise FetchFailed(f"{url} is not a web page (Content-Type {content_type}).", field="url")
        page = extract(_decode(response.body, content_type), url)
        if len(page.text) < 200:
            raise FetchFailed(f"{url} has too little readable text to analyse ({len(page.text)} characters); "
                              "pages drawn by JavaScript cannot be read.", field="url")
        return page
    raise FetchFailed(f"{url} redirects more than {MAX_REDIRECTS} times.", field="url")


def _decode(body: bytes, content_type: str) -> str:
    match = re.search(r"charset=([\w\-]+)", content_type, re.I) or re.search(rb'<meta[^>]+charset=["\']?([\w\-]+)',
                                                                            body[:4096], re.I)
    charset = match.group(1) if match else "utf-8"
    charset = charset.decode("ascii", "replace") if isinstance(charset, bytes) else charset
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.in_title = False
        self.heading: list[str] | None = None
        self.title: list[str] = []
        self.description = ""
        self.headings: list[str] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "meta":
            attributes = dict(attrs)
            name = (attributes.get("name") or attributes.get("property") or "").lower()
            if name in ("description", "og:description") and not self.description:
                self.description = (attributes.get("content") or "").strip()
        elif tag in ("h1", "h2", "h3") and not self.skip:
            self.heading = []
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in SKIPPED and self.skip:
            self.skip -= 1
        elif tag == "title":
            self.in_title = False
        elif tag in ("h1", "h2", "h3") and self.heading is not None:
            text = " ".join("".join(self.heading).split())
            if text:
                self.headings.append(text)
            self.heading = None
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.parts.append(data)
            if self.heading is not None:
                self.heading.append(data)


def extract(html: str, url: str = "") -> Page:
    """Title, description, headings and readable text of ``html``."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    return Page(url=url, title=" ".join("".join(parser.title).split())[:300], description=parser.description[:500],
                headings=parser.headings[:40], text=text[:MAX_TEXT])
