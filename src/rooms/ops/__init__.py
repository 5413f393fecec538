"""The steward's side: operator sign-in and sessions, node status (later: controls, audit)."""
