"""The archive as a whole: bulk import, backup and restore, the close-of-day record, and
the pruning of old audit rows (README "Import, backup and restore")."""
