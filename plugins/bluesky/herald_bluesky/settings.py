"""The Bluesky plugin's settings (``HERALD_BLUESKY_*``)."""

from __future__ import annotations

from herald.sdk import Setting


def base_url(text: str) -> str:
    """An http(s) address without its trailing slash."""
    if not text.startswith(("https://", "http://")):
        raise ValueError("give an address starting with https://")
    return text.rstrip("/")


def yes_no(text: str) -> bool:
    """``1``/``true``/``yes`` or ``0``/``false``/``no``, as a bool."""
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError("say yes or no")
    return text.lower() in ("1", "true", "yes")


PDS_URL = Setting("HERALD_BLUESKY_PDS_URL", "https://bsky.social",
                  "the PDS accounts connect to when the user names none (Bluesky's own: https://bsky.social); "
                  "tests point it at a fake", parse=base_url)
THROUGH_PDS = "pds"
APPVIEW_URL = Setting("HERALD_BLUESKY_APPVIEW_URL", "https://public.api.bsky.app",
                      "the AppView engagement is read from (app.bsky.feed.getPosts, no sign-in needed); pds: "
                      "through each account's PDS, signed in",
                      parse=lambda text: THROUGH_PDS if text.lower() == THROUGH_PDS else base_url(text))
TIMEOUT = Setting("HERALD_BLUESKY_TIMEOUT", 30.0, "seconds one call to a PDS or the AppView may take", parse=float)
ALLOW_PRIVATE = Setting("HERALD_BLUESKY_ALLOW_PRIVATE", False,
                        "let users connect accounts on a PDS at a private or loopback address (tests, an intranet); "
                        "HERALD_BLUESKY_PDS_URL itself is always allowed", parse=yes_no)

ALL = (PDS_URL, APPVIEW_URL, TIMEOUT, ALLOW_PRIVATE)
