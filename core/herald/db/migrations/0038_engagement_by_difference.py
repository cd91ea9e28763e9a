"""Issue 25: the engagement triggers (:mod:`herald.db.engagement_hours`) add a new snapshot of an owner
measured before by its difference from that owner's previous newest, instead of taking the post's whole
contribution off and putting it on again; and on PostgreSQL a task moved to another post locks both
posts in the order of their ids, in those triggers and in :mod:`herald.db.daily_figures`' (two tasks
moved in crossing ways deadlocked). Both families' triggers are installed again here; the rows they keep
are unchanged.
"""

from herald.db import daily_figures, engagement_hours


def up(migrator, db):
    daily_figures.install(db)
    engagement_hours.install(db)


def down(migrator, db):
    # The statements before this one are not kept: the triggers installed now keep the same rows exactly.
    daily_figures.install(db)
    engagement_hours.install(db)
