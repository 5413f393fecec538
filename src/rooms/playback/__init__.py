"""Playback: pool selection, wear, the media proxy, room composition."""
