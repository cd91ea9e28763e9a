"""The Graph API's settings, shared by the Instagram and Facebook plugins (each registers them)."""

from __future__ import annotations

from herald.sdk import Setting


def _version(text: str) -> str:
    version = text.strip("/")
    if not version.lstrip("v").replace(".", "").isdigit():
        raise ValueError("a Graph API version looks like v25.0")
    return version if version.startswith("v") else f"v{version}"


def _login(text: str) -> str:
    login = text.strip().lower()
    if login not in ("facebook", "instagram"):
        raise ValueError("it is facebook or instagram")
    return login


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
FACEBOOK_DIALOG_URL = Setting("HERALD_FACEBOOK_DIALOG_URL", "https://www.facebook.com/dialog/oauth",
                              "Facebook Login's dialog, where POST /v1/accounts/connect sends the user; tests point "
                              "it at a fake")

INSTAGRAM_OAUTH_LOGIN = Setting("HERALD_INSTAGRAM_OAUTH_LOGIN", "facebook",
                                "which login POST /v1/accounts/connect opens for Instagram: facebook (Facebook Login "
                                "with the Meta app: the Instagram accounts linked to the user's Pages) or instagram "
                                "(Instagram Login with the Instagram app: the account that logs in)",
                                parse=_login)
INSTAGRAM_APP_ID = Setting("HERALD_INSTAGRAM_APP_ID", "",
                           "your Instagram app id (App Dashboard > Instagram > API setup with Instagram login), for "
                           "HERALD_INSTAGRAM_OAUTH_LOGIN=instagram")
INSTAGRAM_APP_SECRET = Setting("HERALD_INSTAGRAM_APP_SECRET", "",
                               "your Instagram app secret (see HERALD_INSTAGRAM_APP_ID)", secret=True)
INSTAGRAM_API_URL = Setting("HERALD_INSTAGRAM_API_URL", "https://api.instagram.com",
                            "host of Instagram Login's code exchange (oauth/access_token); tests point it at a fake")

# What each plugin registers: the Instagram Login host is Instagram's; the Meta app (OAuth connect, token
# exchange) both's.
FACEBOOK_SETTINGS = (GRAPH_BASE_URL, GRAPH_VERSION, META_APP_ID, META_APP_SECRET, FACEBOOK_DIALOG_URL)
INSTAGRAM_SETTINGS = (GRAPH_BASE_URL, GRAPH_VERSION, INSTAGRAM_BASE_URL, META_APP_ID, META_APP_SECRET,
                      FACEBOOK_DIALOG_URL, INSTAGRAM_OAUTH_LOGIN, INSTAGRAM_APP_ID, INSTAGRAM_APP_SECRET,
                      INSTAGRAM_API_URL)
