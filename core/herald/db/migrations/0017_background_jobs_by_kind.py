"""Background jobs run the function registered for their kind (``populate_hooks``, …), no longer a
function named by its module path in ``background_job.function``: the column goes. A job queued
before the upgrade runs after it by its kind, wherever the code has moved. ``down`` gives each job
the path its kind's function had before (the modules of that release)."""
from peewee import CharField, Table

PATHS_BEFORE = {"populate_hooks": "herald.ai_openers.populate", "analyze_competitor": "herald.ai_competitor.analyze",
                "generate_template": "herald.ai_design.generate_template"}


def up(migrator, db):
    migrator.migrate(migrator.drop_column('background_job', 'function'))


def down(migrator, db):
    migrator.migrate(migrator.add_column('background_job', 'function', CharField(max_length=200, default='')))
    jobs = Table('background_job', ('id', 'kind', 'function'))
    for kind, path in PATHS_BEFORE.items():
        jobs.update({jobs.function: path}).where(jobs.kind == kind).execute(db)
