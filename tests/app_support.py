"""What the Integrations page tests share: users of each role, logging in through the login form, and
the CSRF value a page's forms carry."""

from __future__ import annotations

import re

from herald.auth import create_user
from herald.db.models import db

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def make_user(app, tenant, role: str) -> str:
    """A user of ``role`` in the tenant's workspace; their email."""
    email = f"{role}-{tenant.workspace.id}@example.com"
    with app.app_context(), db.connection_context():
        create_user(tenant.workspace, email, PASSWORD, role)
    return email


def login(client, email: str) -> str:
    """Log ``client`` in through the login form; the CSRF value of the Integrations page's forms."""
    response = client.post("/app/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/integrations"), response
    return csrf_of(client.get("/app/integrations").get_data(as_text=True))


def csrf_of(html: str) -> str:
    """The CSRF value in a page's forms."""
    found = _CSRF.search(html)
    assert found, "no form with a CSRF value on the page"
    return found.group(1)
