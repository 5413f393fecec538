"""Live websocket sidecar: hub, tokens, subscriber counts."""
