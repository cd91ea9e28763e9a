"""The migrated schema is the schema the models describe: every table, column, nullability and
foreign key (a model field without a migration fails here, not in production)."""

from __future__ import annotations

from herald.migrate import upgrade
from herald.models import MODELS, open_database


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
    database.close_all()
