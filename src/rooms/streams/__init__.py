"""Content-free streams: noise text and its measures (seed 000), shared by the workers."""
