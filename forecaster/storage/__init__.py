"""Bytes on disk: atomic writes, hashes, size limits, output folders and SQLite files."""
