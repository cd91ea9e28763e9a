"""The client portal's lists in their order (issue 25): ``post(client_id, status, published_at DESC, id
DESC)`` for the published list, ``post(client_id, status, scheduled_at, id)`` for the lists awaiting
approval and upcoming, ``post(client_id, status, updated_at DESC, id DESC)`` for the problems (failed in
the last 30 days, partly published, not confirmed) and the recently rejected.

The portal shows a client's 50 first posts of each group (:mod:`herald.portal.page`). Without indexes
in those orders the database sorted every post of the group for each page (the big client's 144k
published posts at 1M: 227/383 ms p50/p95 on SQLite; its 14k upcoming and 6k awaiting posts, 20-35
ms each; its 10k failed posts, to find those of the last 30 days, 90 ms); with them each status of a
group reads at most 50 index entries. The DDL differs per backend: PostgreSQL's ``DESC`` puts NULLs first and ``ASC`` last, so its indexes say ``NULLS LAST`` and
``NULLS FIRST`` as the queries do; SQLite does not take ``NULLS`` in an index, and its defaults
(``DESC``: NULLs last, ``ASC``: first) are the queries' orders.
"""
from peewee import *

# name, the ordered columns after (client_id, status) on SQLite, and PostgreSQL's NULLS for the first of them
INDEXES = (
    ('post_client_id_status_published_at', 'published_at DESC{nulls}, id DESC', ' NULLS LAST'),
    ('post_client_id_status_scheduled_at', 'scheduled_at{nulls}, id', ' NULLS FIRST'),
    ('post_client_id_status_updated_at', 'updated_at DESC, id DESC', ''),  # never NULL
)


def up(migrator, db):
    postgres = isinstance(db, PostgresqlDatabase)
    for name, columns, nulls in INDEXES:
        db.execute_sql(f'CREATE INDEX {name} ON post (client_id, status, '
                       f'{columns.format(nulls=nulls if postgres else "")})')
        if not postgres:
            # SQLite takes an index without statistics for a very selective one: where the other indexes
            # of post have them (an ANALYZE after a load), it walked all of a client's posts through this
            # one for the health scores' hour edges (11 s at 1M posts) instead of a published_at range.
            db.execute_sql(f'ANALYZE {name}')


def down(migrator, db):
    for name, _, _ in INDEXES:
        db.execute_sql(f'DROP INDEX {name}')
