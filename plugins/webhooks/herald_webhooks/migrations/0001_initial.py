"""Webhook endpoints, deliveries and attempts (the herald-webhooks plugin)."""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

from herald.sdk.storage import JSONField


def up(migrator, db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Event(Model):
        class Meta:
            database = db
            table_name = 'event'

    class WebhookEndpoint(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        url = TextField()
        events = JSONField(default=list)
        secret_encrypted = TextField()
        previous_secret_encrypted = TextField(null=True)
        previous_secret_expires_at = DateTimeField(null=True)
        active = BooleanField(default=True)
        disabled_reason = TextField(null=True)
        disabled_at = DateTimeField(null=True)
        failing_since = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webhook_endpoint'
    db.create_tables([WebhookEndpoint])

    class WebhookDelivery(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        endpoint = ForeignKeyField(WebhookEndpoint, on_delete='CASCADE')
        event = ForeignKeyField(Event, null=True, on_delete='CASCADE')
        event_type = CharField(max_length=60)
        message_id = CharField(max_length=64)
        payload = TextField()
        status = CharField(max_length=20, default='pending', index=True)
        attempts = IntegerField(default=0)
        step = IntegerField(default=0)
        trigger = CharField(max_length=20, default='scheduled')
        one_shot = BooleanField(default=False)
        next_attempt_at = DateTimeField(null=True, index=True)
        last_status_code = IntegerField(null=True)
        last_error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webhook_delivery'
            indexes = ((('endpoint', 'event'), True),)
    db.create_tables([WebhookDelivery])

    class WebhookAttempt(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        endpoint = ForeignKeyField(WebhookEndpoint, on_delete='CASCADE')
        delivery = ForeignKeyField(WebhookDelivery, on_delete='CASCADE')
        number = IntegerField()
        trigger = CharField(max_length=20)
        attempted_at = DateTimeField(index=True)
        status_code = IntegerField(null=True)
        success = BooleanField(default=False)
        duration_ms = IntegerField(default=0)
        error = TextField(null=True)
        response = TextField(default='')
        next_attempt_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'webhook_attempt'
    db.create_tables([WebhookAttempt])


def down(migrator, db):
    for table in ('webhook_attempt', 'webhook_delivery', 'webhook_endpoint'):
        db.execute_sql(f'DROP TABLE IF EXISTS {table}')
