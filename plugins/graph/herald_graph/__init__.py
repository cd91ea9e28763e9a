"""Meta's Graph API as Herald's Instagram and Facebook plugins both use it: the client (:mod:`.graph`,
over the SDK's HTTP client), its settings (:mod:`.settings`), what its errors mean
(:mod:`.graph_errors`), and reading posts and comments back (:mod:`.lookup`, :mod:`.comments`).
A library, not a plugin: it registers nothing, so either platform plugin installs and runs without
the other."""
