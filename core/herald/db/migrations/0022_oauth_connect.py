"""OAuth connect (issue 23): ``oauth_state`` (one row per flow started: its state's nonce, used once, the PKCE
verifier, where the browser goes back to, the accounts chosen) and ``account.refresh_token_encrypted`` (a refresh
token a platform gave, kept across reconnects)."""
from peewee import *


def _table(db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class OAuthState(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        nonce = CharField(max_length=64, unique=True)
        platform = CharField(max_length=40)
        code_verifier_encrypted = TextField(default='')
        return_to = TextField(default='')
        chosen = TextField(default='[]')
        created_at = DateTimeField()
        expires_at = DateTimeField(index=True)
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'oauth_state'

    return OAuthState


def up(migrator, db):
    db.create_tables([_table(db)])
    migrator.migrate(
        migrator.add_column('account', 'refresh_token_encrypted', TextField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('account', 'refresh_token_encrypted'),
        migrator.drop_table('oauth_state'),
    )
