"""Background jobs recorded before Herald's modules moved into packages name their function by its new
path (``herald.ai_openers.populate`` is now ``herald.ai.openers.populate``), so a job queued across the
upgrade still runs."""
from peewee import Table

MOVED = {"herald.ai_openers.": "herald.ai.openers.", "herald.ai_competitor.": "herald.ai.competitor.",
         "herald.ai_design.": "herald.ai.design."}


def _rename(db, moves: dict[str, str]) -> None:
    jobs = Table("background_job", ("id", "function"))
    for job_id, function in list(jobs.select(jobs.id, jobs.function).tuples().execute(db)):
        for before, after in moves.items():
            if function.startswith(before):
                jobs.update({jobs.function: after + function[len(before):]}).where(jobs.id == job_id).execute(db)


def up(migrator, db):
    _rename(db, MOVED)


def down(migrator, db):
    _rename(db, {after: before for before, after in MOVED.items()})
