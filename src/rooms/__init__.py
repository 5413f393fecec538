"""rooms: software for sound installations that listen back."""

__version__ = "0.1.0"
