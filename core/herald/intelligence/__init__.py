"""Content intelligence from the workspace's own data (no AI call): caption features, scoring
strategies, engagement history, brand memory, hooks, winning patterns, audits and the full report.

Modules, one job each: :mod:`.features` (what a caption is made of), :mod:`.history` (a client's
posts with their engagement), :mod:`.scoring` (running the registered scorers and combining them),
:mod:`.heuristic` and :mod:`.learned` (the two built-in scorers), :mod:`.memory`, :mod:`.hooks`,
:mod:`.patterns`, :mod:`.audit`, :mod:`.report`, :mod:`.engagement` (pushes, batches) and
:mod:`.pull` (the scheduled pull from the platforms).
"""
