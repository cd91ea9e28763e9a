"""The client portal: links for people without an account, and what the page shows."""
