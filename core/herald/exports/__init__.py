"""Exports: the posts CSV and JSON, and the GDPR archive of a whole workspace."""
