"""The Threads plugin's settings (``herald plugins list`` shows them; tests point the hosts at a fake)."""

from __future__ import annotations

from herald.sdk import Setting


def _version(text: str) -> str:
    version = text.strip("/")
    if not version.lstrip("v").replace(".", "").isdigit():
        raise ValueError("a Threads API version looks like v1.0")
    return version if version.startswith("v") else f"v{version}"


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("give a number of seconds above 0")
    return value


BASE_URL = Setting("HERALD_THREADS_BASE_URL", "https://graph.threads.net",
                   "Threads API host (no version); tests point it at a fake server")
API_VERSION = Setting("HERALD_THREADS_API_VERSION", "v1.0", "Threads API version in every URL", parse=_version)
TIMEOUT = Setting("HERALD_THREADS_TIMEOUT", 30.0, "seconds one call to the Threads API may take", parse=_seconds)
APP_ID = Setting("HERALD_THREADS_APP_ID", "",
                 "your Meta app's Threads app id (App Dashboard > App settings > Basic > Threads App ID); with it "
                 "and the secret set, Threads accounts connect through Threads' authorisation window "
                 "(POST /v1/accounts/connect) and their 60-day tokens are refreshed")
APP_SECRET = Setting("HERALD_THREADS_APP_SECRET", "", "your Meta app's Threads app secret (see HERALD_THREADS_APP_ID)",
                     secret=True)
DIALOG_URL = Setting("HERALD_THREADS_DIALOG_URL", "https://threads.net/oauth/authorize",
                     "Threads' authorisation window, where POST /v1/accounts/connect sends the user; tests point it "
                     "at a fake")

ALL = (BASE_URL, API_VERSION, TIMEOUT, APP_ID, APP_SECRET, DIALOG_URL)
