"""Outbound HTTP to user-supplied URLs: the SSRF guard, reading a web page, secrets kept out of logs."""
