"""Alembic revisions, one file each: loaded by path; this file ships them as package data."""
