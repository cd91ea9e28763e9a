"""``herald accounts``: connected accounts for operators, on the data the API serves.

``herald accounts list`` shows every account with its token's expiry and health; ``herald accounts
refresh`` refreshes tokens now through the same service the token check uses
(:mod:`herald.publishing.token_refresh`), one progress line per account; ``herald accounts connect-url``
starts the OAuth connect flow ``POST /v1/accounts/connect`` starts (:mod:`herald.publishing.oauth_connect`)
and prints the address to open.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from .console import command, command_runtime, progress
from .db.models import Account, TokenRefresh, Workspace, isoformat
from .errors import HeraldError
from .publishing import accounts as account_service
from .publishing import oauth_connect, token_refresh


@click.group("accounts", cls=AppGroup)
def accounts():
    """Connected social accounts: list them, refresh their tokens."""


def _workspace_id(ref: str | None) -> int | None:
    """The id of workspace ``ref`` (its name or id); None for every workspace."""
    if ref is None:
        return None
    workspace = (Workspace.get_or_none(Workspace.id == int(ref)) if ref.isdigit()
                 else Workspace.get_or_none(Workspace.name == ref))
    if workspace is None:
        raise click.ClickException(f"No workspace {ref!r} (give its name or id).")
    return workspace.id


def _expiry(account: Account, runtime) -> str:
    """``2027-01-05T00:00:00Z (in 30 days)``, ``never``, or ``expired 2026-…``."""
    expires = account.token_expires_at
    if expires is None:
        return "never"
    days = (expires - runtime.clock.now()).days
    return f"expired {isoformat(expires)}" if days < 0 else f"{isoformat(expires)} (in {days} days)"


def _last_refresh(account: Account) -> TokenRefresh | None:
    return TokenRefresh.select().where(TokenRefresh.account == account.id).order_by(TokenRefresh.id.desc()).first()


def _health(account: Account) -> str:
    """When the token was last checked, and why it is unusable if it is."""
    checked = f"checked {isoformat(account.checked_at)}" if account.checked_at else "never checked"
    return f"{checked}: {account.status_reason}" if account.status_reason else checked


@command(accounts, "list")
@click.option("--workspace", help="Only this workspace's accounts (its name or id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per account.")
def accounts_list(workspace, as_json):
    """Every connected account: id, workspace, platform, username, status, token expiry, health and the
    last token refresh."""
    runtime = command_runtime()
    workspace_id = _workspace_id(workspace)
    query = Account.select().order_by(Account.id)
    if workspace_id is not None:
        query = query.where(Account.workspace == workspace_id)
    rows = list(query)
    for account in rows:
        refresh = _last_refresh(account)
        if as_json:
            click.echo(json.dumps({**account_service.serialize_account(account), "workspace_id": account.workspace_id,
                                   "refreshes_tokens": token_refresh.can_refresh(runtime, account),
                                   "last_refresh": token_refresh.serialize_refresh(refresh) if refresh else None}))
            continue
        renewal = (f"last refresh {refresh.status}" if refresh else "never refreshed"
                   ) if token_refresh.can_refresh(runtime, account) else "not refreshable"
        click.echo(f"{account_service.ACCOUNT_PREFIX}{account.id}  workspace {account.workspace_id}  "
                   f"{account.platform}  @{account.username}  {account.status}  expires {_expiry(account, runtime)}  "
                   f"{_health(account)}  {renewal}")
    if not rows and not as_json:
        click.echo("No accounts.")


def _accounts_to_refresh(refs: tuple[str, ...], every: bool, workspace_id: int | None, runtime) -> list[Account]:
    """The accounts named (``acc_12`` or ``12``), or with ``every`` the active accounts whose platform
    refreshes tokens and whose token expires at all."""
    if refs and every:
        raise click.UsageError("Name accounts or give --all, not both.")
    if not refs and not every:
        raise click.UsageError("Name the accounts to refresh (acc_12 …), or give --all.")
    if every:
        query = Account.select().where((Account.status == "active") & Account.token_expires_at.is_null(False))
        if workspace_id is not None:
            query = query.where(Account.workspace == workspace_id)
        return [account for account in query.order_by(Account.id) if token_refresh.can_refresh(runtime, account)]
    found = []
    for ref in refs:
        number = account_service.parse_account_id(ref) if ref.removeprefix("acc_").isdigit() else None
        account = Account.get_or_none(Account.id == number) if number is not None else None
        if account is None or (workspace_id is not None and account.workspace_id != workspace_id):
            raise click.ClickException(f"No account {ref!r}.")
        found.append(account)
    return found


def _outcome(account: Account, row: TokenRefresh, runtime) -> tuple[str, bool]:
    """What became of one refresh, as a line's end, and whether it went well (or will be retried)."""
    if row.status == token_refresh.STATUSES.done:
        return f"refreshed: expires {_expiry(Account.get_by_id(account.id), runtime)}", True
    if row.status in token_refresh.STATUSES.runnable:
        return f"not refreshed yet ({row.error}); tried again at {isoformat(row.due_at)}", True
    if row.status == token_refresh.STATUSES.running:
        return "being refreshed by a worker right now", True
    if row.status == token_refresh.STATUSES.cancelled:
        return f"nothing to do: {row.error}", True
    status = Account.get_by_id(account.id).status
    reconnect = " The account needs reconnecting." if status != "active" else ""
    return f"{row.status}: {row.error}{reconnect}", False


@command(accounts, "refresh")
@click.argument("refs", nargs=-1, metavar="[ACCOUNT]...")
@click.option("--all", "every", is_flag=True, help="Every active account whose platform refreshes tokens.")
@click.option("--workspace", help="Only this workspace's accounts (its name or id).")
def accounts_refresh(refs, every, workspace):
    """Refresh account tokens now (as the token check does before they run out), one line per account.

    A platform that cannot answer now has the refresh tried again by a worker; a refusal checks the
    token, and one that no longer works marks the account for reconnecting. Exits 1 when a refresh failed.
    """
    runtime = command_runtime()
    chosen = _accounts_to_refresh(refs, every, _workspace_id(workspace), runtime)
    if not chosen:
        click.echo("No account to refresh.")
        return
    failed = 0
    for number, account in enumerate(chosen, 1):
        label = (f"[{number}/{len(chosen)}] {account_service.ACCOUNT_PREFIX}{account.id} "
                 f"{account.platform} @{account.username}")
        if account.status != "active":
            progress(f"{label}: skipped, the account is {account.status} (reconnect it)")
            failed += 1
            continue
        if not token_refresh.can_refresh(runtime, account):
            progress(f"{label}: skipped, {account.platform} does not refresh tokens")
            continue
        progress(f"{label}: refreshing…")
        said, went_well = _outcome(account, token_refresh.run_now(runtime, account), runtime)
        progress(f"{label}: {said}")
        failed += not went_well
    click.echo(f"{len(chosen) - failed} of {len(chosen)} accounts refreshed or on their way.")
    if failed:
        raise SystemExit(1)


@command(accounts, "connect-url")
@click.argument("platform")
@click.option("--workspace", required=True, help="The workspace the accounts join (its name or id).")
@click.option("--redirect-uri", help="Where the browser goes once connected (HERALD_PUBLIC_URL's origin or an "
                                     "allowed one); without it the callback answers JSON.")
@click.option("--account", "chosen", multiple=True, help="Connect only this platform id (repeatable).")
def accounts_connect_url(platform, workspace, redirect_uri, chosen):
    """Start connecting PLATFORM accounts through its sign-in and print the address to open in a browser
    (single use, valid 10 minutes), as POST /v1/accounts/connect does."""
    runtime = command_runtime()
    try:
        started = oauth_connect.start(runtime, _workspace_id(workspace), platform.strip().lower(), redirect_uri,
                                      list(chosen) or None)
    except HeraldError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(started["authorization_url"])
    click.echo(f"Open it in a browser signed in to {platform}; the platform sends it back to "
               f"{started['redirect_uri']} (until {started['expires_at']}).", err=True)
