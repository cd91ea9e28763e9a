"""Posts and their way out: publish requests, tasks per account, the publish work kind, first comments, accounts."""
