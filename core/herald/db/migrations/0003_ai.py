"""AI: per-workspace AI settings, the record of every generation, background jobs, and what the AI
features store (generated hooks, competitor analyses, design templates).

Time defaults are applied by the models, not the database."""
from peewee import *

from herald.db.models import JSONField


def up(migrator, db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Client(Model):
        class Meta:
            database = db
            table_name = 'client'

    class Media(Model):
        class Meta:
            database = db
            table_name = 'media'

    class AISetting(Model):
        workspace = ForeignKeyField(Workspace, unique=True, on_delete='CASCADE')
        gemini_api_key = TextField(null=True)
        gemini_model = CharField(max_length=100, null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ai_setting'

    class AIGeneration(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, null=True, on_delete='SET NULL')
        feature = CharField(max_length=60)
        provider = CharField(max_length=60)
        model = CharField(max_length=100, default='')
        input_tokens = IntegerField(default=0)
        output_tokens = IntegerField(default=0)
        status = CharField(max_length=20)
        error = TextField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'ai_generation'
            indexes = ((('workspace', 'created_at'), False),)

    class BackgroundJob(Model):
        id = CharField(max_length=40, primary_key=True)
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        kind = CharField(max_length=60)
        function = CharField(max_length=200)
        params = JSONField(default=dict)
        status = CharField(max_length=20, default='queued')
        result = JSONField(null=True)
        error_code = CharField(max_length=60, null=True)
        error = TextField(null=True)
        created_at = DateTimeField()
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'background_job'

    class GeneratedHook(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, on_delete='CASCADE')
        text = TextField()
        style = CharField(max_length=40)
        fingerprint = CharField(max_length=64)
        job = ForeignKeyField(BackgroundJob, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'generated_hook'
            indexes = ((('client', 'fingerprint'), True),)

    class CompetitorAnalysis(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        client = ForeignKeyField(Client, null=True, on_delete='SET NULL')
        url = TextField()
        title = TextField(default='')
        analysis = JSONField(default=dict)
        job = ForeignKeyField(BackgroundJob, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'competitor_analysis'

    class DesignTemplate(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        media = ForeignKeyField(Media, null=True, on_delete='SET NULL')
        palette = JSONField(default=list)
        template = JSONField(default=dict)
        job = ForeignKeyField(BackgroundJob, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'design_template'

    db.create_tables([AISetting, AIGeneration, BackgroundJob, GeneratedHook, CompetitorAnalysis, DesignTemplate])


def down(migrator, db):
    for table in ('design_template', 'competitor_analysis', 'generated_hook', 'background_job', 'ai_generation',
                  'ai_setting'):
        migrator.migrate(migrator.drop_table(table))
