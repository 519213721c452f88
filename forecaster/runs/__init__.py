"""The run on disk: its files, the typed records, the forecast state, listing and tracking."""
