"""The LinkedIn plugin's settings: where LinkedIn answers (tests point both hosts at a fake), which
API version every call names, and the operator's LinkedIn app for the OAuth connect flow."""

from __future__ import annotations

import re

from herald.sdk import Setting


def _version(text: str) -> str:
    if not re.fullmatch(r"20\d{2}(0[1-9]|1[0-2])(\.\d{2})?", text.strip()):
        raise ValueError("a LinkedIn API version looks like 202611 (YYYYMM)")
    return text.strip()


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("give a number of seconds above 0")
    return value


API_URL = Setting("HERALD_LINKEDIN_API_URL", "https://api.linkedin.com",
                  "LinkedIn's API host (the versioned APIs are under /rest); tests point it at a fake")
OAUTH_URL = Setting("HERALD_LINKEDIN_OAUTH_URL", "https://www.linkedin.com",
                    "LinkedIn's OAuth host (/oauth/v2/authorization, /oauth/v2/accessToken); tests point it at a fake")
VERSION = Setting("HERALD_LINKEDIN_VERSION", "202611",
                  "the LinkedIn-Version (YYYYMM) every call names; LinkedIn supports each version about a year",
                  parse=_version)
CLIENT_ID = Setting("HERALD_LINKEDIN_CLIENT_ID", "",
                    "your LinkedIn app's client id (its Auth tab). With it and the secret set, Pages connect through "
                    "LinkedIn's OAuth (POST /v1/accounts/connect) and tokens are refreshed before they expire")
CLIENT_SECRET = Setting("HERALD_LINKEDIN_CLIENT_SECRET", "", "your LinkedIn app's client secret (see "
                        "HERALD_LINKEDIN_CLIENT_ID)", secret=True)
TIMEOUT = Setting("HERALD_LINKEDIN_TIMEOUT", 30.0, "seconds one call to LinkedIn may take", parse=_seconds)

ALL = (API_URL, OAUTH_URL, VERSION, CLIENT_ID, CLIENT_SECRET, TIMEOUT)
