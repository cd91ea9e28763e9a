"""The Graph API's settings, shared by the Instagram and Facebook plugins (each registers them)."""

from __future__ import annotations

from herald.sdk import Setting


def _version(text: str) -> str:
    version = text.strip("/")
    if not version.lstrip("v").replace(".", "").isdigit():
        raise ValueError("a Graph API version looks like v25.0")
    return version if version.startswith("v") else f"v{version}"


GRAPH_BASE_URL = Setting("HERALD_GRAPH_BASE_URL", "https://graph.facebook.com",
                         "Meta Graph API host (no version); tests point it at a fake server")
GRAPH_VERSION = Setting("HERALD_GRAPH_VERSION", "v25.0", "Graph API version in every URL", parse=_version)
INSTAGRAM_BASE_URL = Setting("HERALD_INSTAGRAM_BASE_URL", "https://graph.instagram.com",
                             "host of the Instagram API with Instagram Login, for Instagram accounts connected "
                             "with an Instagram User token; tests point it at the same fake")
META_APP_ID = Setting("HERALD_META_APP_ID", "",
                      "your Meta app's id. With it and the secret set, accounts connect through Facebook Login "
                      "(POST /v1/accounts/connect), and a short-lived Facebook user token pasted to connect a Page is "
                      "first exchanged for a long-lived one, so the Page token kept never expires")
META_APP_SECRET = Setting("HERALD_META_APP_SECRET", "", "your Meta app's secret (see HERALD_META_APP_ID)",
                          secret=True)

# What each plugin registers: the Instagram Login host is Instagram's; the Meta app (OAuth connect, token
# exchange) both's.
FACEBOOK_SETTINGS = (GRAPH_BASE_URL, GRAPH_VERSION, META_APP_ID, META_APP_SECRET)
INSTAGRAM_SETTINGS = (GRAPH_BASE_URL, GRAPH_VERSION, INSTAGRAM_BASE_URL, META_APP_ID, META_APP_SECRET)
