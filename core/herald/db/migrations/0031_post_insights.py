"""Issue 25, item 3: ``post_insight``, each post's caption features and current engagement, stored so
the intelligence reads stop extracting features and ranking snapshots on every request (see
:mod:`herald.intelligence.insights`). The table is filled here for the posts that exist; a row that
goes missing or stale later is computed again when next read (``herald derived rebuild intelligence`` redoes
them all)."""
from peewee import *


def _table(db):
    class Post(Model):
        class Meta:
            database = db
            table_name = 'post'

    class PostInsight(Model):
        post = ForeignKeyField(Post, primary_key=True, on_delete='CASCADE')
        caption_digest = CharField(max_length=32)
        first_line = TextField()
        opener_style = CharField(max_length=20)
        length = IntegerField()
        words = IntegerField()
        line_breaks = IntegerField()
        paragraphs = IntegerField()
        hashtags = TextField()
        keywords = TextField()
        mentions = IntegerField()
        emojis = IntegerField()
        exclamations = IntegerField()
        has_question = BooleanField()
        cta = CharField(max_length=40, null=True)
        sentences = IntegerField()
        average_sentence_words = DoubleField()
        average_word_length = DoubleField()
        second_person = BooleanField()
        last_snapshot_id = BigIntegerField(null=True)
        snapshots = IntegerField(default=0)
        likes = IntegerField(null=True)
        comments = IntegerField(null=True)
        saves = IntegerField(null=True)
        shares = IntegerField(null=True)
        reach = IntegerField(null=True)

        class Meta:
            database = db
            table_name = 'post_insight'

    return PostInsight


def _backfill(db, table, batch=1000):
    """Compute the rows of every existing post with today's extractor, the one the reads compare them
    with (a later change of the extractor raises FEATURES_VERSION, which makes every row stale again)."""
    from herald.db.models import EngagementSnapshot, Post
    from herald.intelligence import insights

    after = 0
    with db.bind_ctx([Post, EngagementSnapshot], bind_refs=False, bind_backrefs=False):
        while True:
            posts = list(Post.select(Post.id, Post.caption).where(Post.id > after)
                         .order_by(Post.id).limit(batch).tuples())
            if not posts:
                return
            with db.atomic():
                table.insert_many(insights.compute(posts)).execute()
            after = posts[-1][0]


def up(migrator, db):
    table = _table(db)
    db.create_tables([table])
    _backfill(db, table)


def down(migrator, db):
    migrator.migrate(migrator.drop_table('post_insight'))
