"""The viridis colour map as a 256-entry RGB lookup table, without matplotlib.

Viridis is by Stéfan van der Walt and Nathaniel J. Smith and is released under CC0
("No rights reserved", https://creativecommons.org/publicdomain/zero/1.0/), as shipped in
matplotlib's `_cm_listed.py`. The 33 control points below are that table sampled at every
eighth entry (and the last), rounded to four decimals; linear interpolation between them
reproduces matplotlib's 256 entries within 2.5/255 per channel.
"""

from __future__ import annotations

import numpy as np

_VIRIDIS_33 = (
    (0.2670, 0.0049, 0.3294), (0.2770, 0.0503, 0.3757), (0.2823, 0.0950, 0.4173),
    (0.2829, 0.1359, 0.4534), (0.2788, 0.1755, 0.4834), (0.2706, 0.2141, 0.5071),
    (0.2590, 0.2515, 0.5247), (0.2450, 0.2877, 0.5373), (0.2297, 0.3224, 0.5457),
    (0.2143, 0.3556, 0.5512), (0.1994, 0.3876, 0.5546), (0.1856, 0.4186, 0.5568),
    (0.1727, 0.4488, 0.5579), (0.1607, 0.4785, 0.5581), (0.1490, 0.5081, 0.5573),
    (0.1378, 0.5375, 0.5549), (0.1276, 0.5669, 0.5506), (0.1206, 0.5964, 0.5436),
    (0.1206, 0.6258, 0.5335), (0.1323, 0.6550, 0.5197), (0.1579, 0.6838, 0.5017),
    (0.1966, 0.7118, 0.4792), (0.2461, 0.7389, 0.4520), (0.3041, 0.7647, 0.4199),
    (0.3692, 0.7889, 0.3829), (0.4401, 0.8111, 0.3410), (0.5160, 0.8312, 0.2943),
    (0.5958, 0.8487, 0.2433), (0.6785, 0.8637, 0.1895), (0.7624, 0.8764, 0.1371),
    (0.8456, 0.8873, 0.0997), (0.9261, 0.8973, 0.1041), (0.9932, 0.9062, 0.1439),
)


def viridis_lut() -> np.ndarray:
    """uint8 array of shape (256, 3): index 0 is the darkest (floor), 255 the brightest."""
    points = np.asarray(_VIRIDIS_33)
    at = np.linspace(0.0, 1.0, len(points))
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, at, points[:, c]) for c in range(3)], axis=1)
    return np.round(lut * 255.0).astype(np.uint8)


VIRIDIS = viridis_lut()
