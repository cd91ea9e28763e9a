"""Posting slots: a client's weekly times to publish at, and ``"schedule": "next_slot"``.

A client has weekly slots (a weekday and a time of day) read in its own time zone, so ``monday
09:00`` in Europe/Paris is 09:00 in Paris in winter and in summer alike. A slot is shared by all the
client's accounts, or reserved for one account (``account``). A post to one account that has slots
of its own takes one of those; any other post of the client takes a shared slot.

A slot is *taken* at one of its instants when a post of the client that is going out (waiting for
approval, queued, publishing, published, unconfirmed) is scheduled at that instant, and, for a
reserved slot, goes to its account. Nothing else records it: a post cancelled, rejected, failed or
moved elsewhere frees its slot by that very change. ``next_slot`` takes the first free instant after
now, under the client's row lock (PostgreSQL; SQLite's write transaction holds the one write lock),
so two requests never take the same slot: the second one waits, then sees the first one's post.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import peewee as pw

from ..db.models import Account, Client, Post, PostingSlot, PublishTask, db, isoformat, write_transaction
from ..errors import Conflict, ValidationError
from . import accounts, schedule

NEXT_SLOT = "next_slot"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SLOTS = 100
# The statuses of a post that will go out (or went out) at its scheduled time: such a post takes its slot.
TAKING = ("pending_approval", "queued", "publishing", "published", "partially_published", "unconfirmed")
SEARCH_WINDOW = dt.timedelta(days=28)  # next_slot reads the taken instants four weeks at a time


@dataclasses.dataclass(frozen=True)
class Instant:
    """One occurrence of a slot: ``at`` (naive UTC) and ``local`` (in the client's zone)."""

    at: dt.datetime
    local: dt.datetime
    slot: PostingSlot


def asks_for_slot(value) -> bool:
    """Whether a ``schedule`` value is ``"next_slot"``."""
    return isinstance(value, str) and value.strip().lower() == NEXT_SLOT


def client_zone(client: Client) -> ZoneInfo:
    """The zone the client's slots are read in (its ``timezone``; UTC when unset)."""
    return schedule.zone(client.timezone)


def weekly(client_id: int) -> list[PostingSlot]:
    """The client's slots: shared ones first, then by account, weekday and time."""
    rows = PostingSlot.select().where(PostingSlot.client == client_id)
    return sorted(rows, key=lambda row: (row.account_id or 0, row.weekday, row.minute))


def serialize_slot(row: PostingSlot) -> dict:
    """The JSON shape of a weekly slot (as ``PUT /v1/clients/{id}/slots`` takes it)."""
    return {"day": DAYS[row.weekday], "time": f"{row.minute // 60:02d}:{row.minute % 60:02d}",
            "account": f"{accounts.ACCOUNT_PREFIX}{row.account_id}" if row.account_id else None}


def replace(workspace_id: int, client: Client, entries: list[dict], now: dt.datetime) -> list[PostingSlot]:
    """Make ``entries`` (``{"day", "time", "account"?}``, checked by the schema) the client's whole weekly plan.

    The same slot listed twice counts once; an account must be one of the workspace's (404 naming
    ``slots.N.account``). Posts already scheduled keep their times.
    """
    wanted: dict[tuple[int | None, int, int], None] = {}
    for index, entry in enumerate(entries):
        account_id = None
        if entry.get("account") is not None:
            account_id = accounts.get_account(workspace_id, entry["account"], field=f"slots.{index}.account").id
        hours, minutes = entry["time"].split(":")
        wanted[(account_id, DAYS.index(entry["day"].lower()), int(hours) * 60 + int(minutes))] = None
    if len(wanted) > MAX_SLOTS:
        raise ValidationError(f"A client has at most {MAX_SLOTS} slots.", field="slots")
    with write_transaction():
        PostingSlot.delete().where(PostingSlot.client == client.id).execute()
        if wanted:
            PostingSlot.insert_many([{"workspace": workspace_id, "client": client.id, "account": account_id,
                                      "weekday": weekday, "minute": minute, "created_at": now}
                                     for account_id, weekday, minute in wanted]).execute()
    return weekly(client.id)


def instants(rows: Iterable[PostingSlot], zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[Instant]:
    """Every occurrence of ``rows`` from ``start`` (included) to ``end`` (excluded), both naive UTC, in order.

    Each is the slot's local time on that local date: a daylight-saving change moves the UTC instant,
    never the local time. A local time that a spring change skips falls the gap's length later
    (02:30 becomes 03:30); one that an autumn change repeats is its first occurrence.
    """
    rows = list(rows)
    by_day: dict[int, list[PostingSlot]] = {}
    for row in rows:
        by_day.setdefault(row.weekday, []).append(row)
    found = []
    day = start.replace(tzinfo=dt.UTC).astimezone(zone).date() - dt.timedelta(days=1)
    last = end.replace(tzinfo=dt.UTC).astimezone(zone).date() + dt.timedelta(days=1)
    while day <= last:
        for row in by_day.get(day.weekday(), ()):
            local = dt.datetime.combine(day, dt.time(row.minute // 60, row.minute % 60), tzinfo=zone)
            at = local.astimezone(dt.UTC).replace(tzinfo=None)
            if start <= at < end:
                found.append(Instant(at, at.replace(tzinfo=dt.UTC).astimezone(zone), row))
        day += dt.timedelta(days=1)
    found.sort(key=lambda item: (item.at, item.slot.account_id or 0))
    return found


def _choose_slots(client: Client, chosen: list[Account], field: str) -> tuple[int | None, list[PostingSlot]]:
    """The slots a post to ``chosen`` may take: its account's own when it goes to one account that has
    some, else the client's shared slots. Returns the account they are reserved for (or None) and them."""
    rows = weekly(client.id)
    if len(chosen) == 1:
        own = [row for row in rows if row.account_id == chosen[0].id]
        if own:
            return chosen[0].id, own
    shared = [row for row in rows if row.account_id is None]
    if not shared:
        reserved = " shared by its accounts (it has slots reserved for single accounts only)" if rows else ""
        raise ValidationError(f'schedule "next_slot": client {client.id} has no posting slots{reserved}. Set them '
                              f"with PUT /v1/clients/{client.id}/slots, or give a time.", field=field)
    return None, shared


def _taken(client_id: int, account_id: int | None, start: dt.datetime, end: dt.datetime,
           exclude_post: int | None) -> set[dt.datetime]:
    """The instants in [start, end) at which a post of the client that takes its slot is scheduled (one
    going to ``account_id`` when given), ``exclude_post`` aside."""
    query = (Post.select(Post.scheduled_at)
             .where((Post.client == client_id) & Post.status.in_(TAKING)
                    & (Post.scheduled_at >= start) & (Post.scheduled_at < end)))
    if account_id is not None:
        query = query.join(PublishTask, on=(PublishTask.post == Post.id)).where(PublishTask.account == account_id)
    if exclude_post is not None:
        query = query.where(Post.id != exclude_post)
    return {row.scheduled_at for row in query}


def next_free(client: Client | None, chosen: list[Account], now: dt.datetime, *, exclude_post: int | None = None,
              field: str = "schedule") -> schedule.Schedule:
    """The first instant after ``now`` of a slot that fits a post to ``chosen`` and is free, as a schedule.

    400 naming ``field`` when the post has no client or the client no slot that fits; 409 when every
    one is taken for as far ahead as a post may be scheduled. Reads only: see :func:`take`.
    """
    if client is None:
        raise ValidationError('schedule "next_slot" needs the post\'s client (client_id): posting slots belong '
                              "to clients.", field=field)
    account_id, rows = _choose_slots(client, chosen, field)
    zone = client_zone(client)
    start, horizon = now, now + schedule.MAX_AHEAD
    while start < horizon:
        end = min(start + SEARCH_WINDOW, horizon)
        taken = _taken(client.id, account_id, start, end, exclude_post)
        for instant in instants(rows, zone, start, end):
            if instant.at > now and instant.at not in taken:
                return schedule.Schedule(instant.at, False, zone.key, slot=True)
        start = end
    raise Conflict(f'schedule "next_slot": every slot of client {client.id} is taken for the next two years.',
                   field=field)


def lock_clients(clients: Iterable[Client | None]) -> None:
    """Take the row locks of ``clients`` (PostgreSQL; SQLite's write transaction already holds the one write
    lock) in the order of their ids, inside the caller's write transaction, before any post's lock:
    transactions that take several (a batch) then never wait for each other in a circle."""
    ids = sorted({client.id for client in clients if client is not None})
    if ids and not isinstance(db.obj, pw.SqliteDatabase):
        list(Client.select(Client.id).where(Client.id.in_(ids)).order_by(Client.id).for_update())


def take(client: Client | None, chosen: list[Account], now: dt.datetime, *, exclude_post: int | None = None,
         field: str = "schedule") -> schedule.Schedule:
    """:func:`next_free`, inside the caller's write transaction and under the client's row lock, so that no
    other transaction takes the same slot before this one commits the post scheduled there. Lock the client
    first (:func:`lock_clients`) when the transaction also locks a post."""
    lock_clients([client])
    return next_free(client, chosen, now, exclude_post=exclude_post, field=field)


def upcoming(client: Client, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The client's slot instants in [start, end) (naive UTC), each with the post that takes it (or None)."""
    found = instants(weekly(client.id), client_zone(client), start, end)
    if not found:
        return []
    posts = list(Post.select(Post.id, Post.status, Post.scheduled_at)
                 .where((Post.client == client.id) & Post.status.in_(TAKING)
                        & (Post.scheduled_at >= start) & (Post.scheduled_at < end)).order_by(Post.id))
    accounts_of: dict[int, set[int]] = {}
    if posts:
        for task in PublishTask.select(PublishTask.post, PublishTask.account).where(
                PublishTask.post.in_([post.id for post in posts])):
            accounts_of.setdefault(task.post_id, set()).add(task.account_id)
    at_instant: dict[dt.datetime, list[Post]] = {}
    for post in posts:
        at_instant.setdefault(post.scheduled_at, []).append(post)
    shown = []
    for instant in found:
        reserved = instant.slot.account_id
        taker = next((post for post in at_instant.get(instant.at, ())
                      if reserved is None or reserved in accounts_of.get(post.id, ())), None)
        shown.append({"at": isoformat(instant.at), "local": instant.local.isoformat(), **serialize_slot(instant.slot),
                      "post": {"id": f"post_{taker.id}", "status": taker.status} if taker else None})
    return shown
