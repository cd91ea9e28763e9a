"""The migrated schema is the schema the models describe: every table, column, nullability, foreign
key and index (a model field or index without a migration fails here, not in production)."""

from __future__ import annotations

from herald.db.models import MODELS, open_database
from herald.upgrading import upgrade


def test_migrations_create_exactly_what_the_models_describe(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(database)
    with database.connection_context():
        for model in MODELS:
            table = model._meta.table_name
            columns = {column.name: column.null for column in database.get_columns(table)}
            expected = {field.column_name: field.null for field in model._meta.sorted_fields}
            assert columns == expected, table
            foreign_keys = {(fk.column, fk.dest_table) for fk in database.get_foreign_keys(table)}
            assert foreign_keys == {(field.column_name, field.rel_model._meta.table_name)
                                    for field in model._meta.refs}, table
            assert indexes_in(database, model) == indexes_of(model), table
    database.close_all()


def indexes_of(model) -> set[tuple]:
    """``(columns, unique, partial)`` of each index the model declares; an expression (not a column) is None,
    as the database reports it, and a column in an order (``DESC``) is that column."""
    return {(tuple(getattr(getattr(part, "node", part), "column_name", None) for part in index._expressions),
             bool(index._unique), index._where is not None) for index in model._meta.fields_to_index()}


def indexes_in(database, model) -> set[tuple]:
    """``(columns, unique, partial)`` of each index on the model's table, its primary key's aside."""
    primary = (model._meta.primary_key.column_name,)
    found = set()
    for index in database.get_indexes(model._meta.table_name):
        columns = tuple(index.columns)
        if columns == primary and index.unique:
            continue
        found.add((columns, bool(index.unique), " where " in (index.sql or "").lower()))
    return found
