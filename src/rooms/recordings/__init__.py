"""Recordings: ingest, consent, revocation, ephemeral takes."""
