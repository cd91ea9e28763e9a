"""Uploaded media: storing and checking uploads, what a file really is, public links, a logo's palette."""
