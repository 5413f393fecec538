"""The memory-color catalog: the playback effect profiles a participant may pick."""

from __future__ import annotations

from typing import Any

DEFAULT_EFFECT = "clear"

CATALOG: dict[str, dict[str, Any]] = {
    "clear": {"label": "Clear", "label_es_mx_ca": "Claro", "topology": ["presence_lift"],
              "description": "Gentle presence and air lift; the take as it was spoken.",
              "dsp": {"highpass": {"hz": 72, "q": 0.66},
                      "presence": {"hz": 2100, "q": 0.8, "gain_db": 1.6},
                      "air": {"hz": 5600, "gain_db": 1.4}, "output_gain": 0.98}},
    "warm": {"label": "Warm", "label_es_mx_ca": "Cálido", "topology": ["warm_body"],
             "description": "Low shelf and softened top, lightly compressed.",
             "dsp": {"lowshelf": {"hz": 220, "gain_db": 4.6},
                     "lowpass": {"hz": 7600, "q": 0.62},
                     "highshelf": {"hz": 4200, "gain_db": -2.8},
                     "compressor": {"threshold_db": -20, "knee_db": 18, "ratio": 2.1,
                                    "attack_s": 0.01, "release_s": 0.18},
                     "output_gain": 1.02}},
    "radio": {"label": "Radio", "label_es_mx_ca": "Radio", "topology": ["radio_narrowband"],
              "description": "Narrowband, a little driven, like a distant broadcast.",
              "dsp": {"highpass": {"hz": 290, "q": 0.9}, "lowpass": {"hz": 3350, "q": 0.92},
                      "mid": {"hz": 1450, "q": 1.1, "gain_db": 3.4}, "drive": 9,
                      "output_gain": 0.86}},
    "dream": {"label": "Dream", "label_es_mx_ca": "Sueño", "topology": ["dream_diffuse"],
              "description": "Diffuse, delayed and reverberant.",
              "dsp": {"lowpass": {"hz": 5200, "q": 0.5}, "dry": 0.82, "wet_source": 0.38,
                      "delay": {"seconds": 0.18, "feedback": 0.24},
                      "impulse": {"seconds": 1.5, "decay": 3.2}, "wet": 0.28,
                      "output_gain": 0.96}},
}
"""REFERENCE §2.5: family participant_memory_color, version v1, engine chain_v1."""


def catalog() -> list[dict[str, Any]]:
    """GET /api/v1/effects: the catalog the server validates `effect_profile` with."""
    return [{"code": code, "label": entry["label"], "label_es_mx_ca": entry["label_es_mx_ca"],
             "description": entry["description"], "dsp": entry["dsp"],
             "topology": entry["topology"], "family": "participant_memory_color",
             "version": "v1", "engine": "chain_v1"} for code, entry in CATALOG.items()]


def effect_metadata(code: str) -> dict[str, str]:
    return {"family": "participant_memory_color", "profile": code,
            "label": str(CATALOG[code]["label"]), "version": "v1"}
