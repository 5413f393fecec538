"""FOSSIL afterlife and retention: spectrogram and essence renders, expiry sweeps."""
