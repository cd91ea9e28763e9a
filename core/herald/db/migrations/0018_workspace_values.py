"""A generic store of the values plugins keep per workspace (``workspace_value``: workspace, plugin,
name, the value, or its ciphertext when secret) replaces ``ai_setting``, whose columns named one
provider (``gemini_api_key``, ``gemini_model``).

Every ``ai_setting`` row moves over as the values the Gemini plugin declares: ``api_key`` (the
ciphertext as it was: the same encryption with the server's secret key) and ``model``, keeping the
row's ``updated_at``; then ``ai_setting`` is dropped. ``down`` moves the Gemini values back.
"""
from peewee import *

PLUGIN = 'gemini'
BATCH = 500


def _tables(db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class AISetting(Model):
        workspace = ForeignKeyField(Workspace, unique=True, on_delete='CASCADE')
        gemini_api_key = TextField(null=True)
        gemini_model = CharField(max_length=100, null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ai_setting'

    class WorkspaceValue(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        plugin = CharField(max_length=100)
        name = CharField(max_length=100)
        value = TextField(null=True)
        value_encrypted = TextField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'workspace_value'
            legacy_table_names = False
            indexes = ((('workspace', 'plugin', 'name'), True),)

    return AISetting, WorkspaceValue


def up(migrator, db):
    AISetting, WorkspaceValue = _tables(db)
    db.create_tables([WorkspaceValue])
    rows = []
    for setting in AISetting.select().order_by(AISetting.id):
        common = {'workspace': setting.workspace_id, 'plugin': PLUGIN, 'updated_at': setting.updated_at}
        rows.append({**common, 'name': 'api_key', 'value': None, 'value_encrypted': setting.gemini_api_key})
        rows.append({**common, 'name': 'model', 'value': setting.gemini_model, 'value_encrypted': None})
    for start in range(0, len(rows), BATCH):
        WorkspaceValue.insert_many(rows[start:start + BATCH]).execute()
    migrator.migrate(migrator.drop_table('ai_setting'))


def down(migrator, db):
    AISetting, WorkspaceValue = _tables(db)
    db.create_tables([AISetting])
    settings = {}
    for value in WorkspaceValue.select().where(WorkspaceValue.plugin == PLUGIN).order_by(WorkspaceValue.id):
        row = settings.setdefault(value.workspace_id, {'workspace': value.workspace_id, 'gemini_api_key': None,
                                                       'gemini_model': None, 'updated_at': value.updated_at})
        if value.name == 'api_key':
            row['gemini_api_key'] = value.value_encrypted
        elif value.name == 'model':
            row['gemini_model'] = value.value
        row['updated_at'] = max(row['updated_at'], value.updated_at)
    rows = list(settings.values())
    for start in range(0, len(rows), BATCH):
        AISetting.insert_many(rows[start:start + BATCH]).execute()
    migrator.migrate(migrator.drop_table('workspace_value'))
