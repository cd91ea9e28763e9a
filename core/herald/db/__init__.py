"""The data layer: peewee models, migrations, pooled connections, the SQLite write lock and prepared statements."""
