"""Issue 25: the engagement triggers (:mod:`herald.db.engagement_hours`) add a new snapshot of an owner
measured before by its difference from that owner's previous newest, instead of taking the post's whole
contribution off and putting it on again; installed again here (the rows they keep are unchanged).
"""

from herald.db import engagement_hours


def up(migrator, db):
    engagement_hours.install(db)


def down(migrator, db):
    # The statements before this one are not kept: the triggers installed now keep the same rows exactly.
    engagement_hours.install(db)
