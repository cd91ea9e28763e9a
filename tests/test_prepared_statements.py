"""Prepared statements (herald.db.prepared_statements) give the rows and instances peewee's ordinary queries give."""

from __future__ import annotations

import datetime as dt

from playhouse.shortcuts import model_to_dict

from herald.db.models import Client, Post, PostVersion, db, write_transaction
from herald.db.prepared_statements import Prepared, PreparedInsert


def test_a_prepared_select_reads_what_an_ordinary_select_reads(app, tenant):
    by_workspace = Prepared(Client, lambda param: Client.select().where(
        (Client.workspace == param(Client.workspace)) & Client.deleted_at.is_null()).order_by(Client.id).limit(1))
    with app.app_context(), db.connection_context():
        deleted = Client.create(workspace=tenant.workspace, name="Gone", deleted_at=dt.datetime(2026, 1, 2, 3, 4, 5))
        Client.create(workspace=tenant.workspace, name="Second")
        [found] = by_workspace.rows(workspace=tenant.workspace.id)
        again = by_workspace.rows(workspace=tenant.workspace)  # a row for a foreign key: its id, as in peewee
        expected = Client.get_by_id(tenant.client.id)
        assert model_to_dict(found, recurse=False) == model_to_dict(expected, recurse=False)
        assert model_to_dict(again[0], recurse=False) == model_to_dict(expected, recurse=False)
        assert by_workspace.rows(workspace=tenant.workspace.id + 1000) == []
        assert Client.get_by_id(deleted.id).deleted_at == dt.datetime(2026, 1, 2, 3, 4, 5)


def test_a_prepared_insert_stores_what_create_stores(app, tenant):
    insert_post = PreparedInsert(Post)
    insert_version = PreparedInsert(PostVersion)
    with app.app_context(), db.connection_context(), write_transaction():
        post = insert_post(workspace=tenant.workspace.id, client=tenant.client.id, topic="t", caption="c",
                           post_type="post", platforms=["instagram"], media=[3], status="draft", score=1.5)
        version = insert_version(post=post.id, number=1, actor="me", changes={"caption": {"after": "c"}})
        created = Post.create(workspace=tenant.workspace, client=tenant.client, topic="t", caption="c",
                              post_type="post", platforms=["instagram"], media=[3], status="draft", score=1.5)
    with app.app_context(), db.connection_context():
        stored, reference = Post.get_by_id(post.id), Post.get_by_id(created.id)
        assert post.id != created.id and post.client_id == stored.client_id == tenant.client.id
        ignored = ["id", "created_at", "updated_at"]

        def fields(row):
            return model_to_dict(row, recurse=False, exclude=[getattr(Post, name) for name in ignored])

        assert fields(post) == fields(stored) == fields(reference)
        assert PostVersion.get_by_id(version.id).changes == {"caption": {"after": "c"}}
        assert stored.created_at is not None and isinstance(stored.created_at, dt.datetime)
