"""Background jobs recorded before ``herald.ai_hooks`` was renamed ``herald.ai_openers`` name their
function by its new path, so a job queued across the upgrade still runs."""
from peewee import Table

OLD, NEW = "herald.ai_hooks.populate", "herald.ai_openers.populate"


def _rename(db, before: str, after: str) -> None:
    jobs = Table("background_job", ("id", "function"))
    jobs.update({jobs.function: after}).where(jobs.function == before).execute(db)


def up(migrator, db):
    _rename(db, OLD, NEW)


def down(migrator, db):
    _rename(db, NEW, OLD)
