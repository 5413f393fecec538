"""The memory-color catalog: the playback effect profiles a participant may pick."""

from __future__ import annotations

from typing import Any

DEFAULT_EFFECT = "clear"

CATALOG: dict[str, dict[str, Any]] = {
    "clear": {"label": "Clear", "label_es_mx_ca": "Claro", "topology": ["presence_lift"],
              "description": "Gentle presence and air lift; the take as it was spoken."},
    "warm": {"label": "Warm", "label_es_mx_ca": "Cálido", "topology": ["warm_body"],
             "description": "Low shelf and softened top, lightly compressed."},
    "radio": {"label": "Radio", "label_es_mx_ca": "Radio", "topology": ["radio_narrowband"],
              "description": "Narrowband, a little driven, like a distant broadcast."},
    "dream": {"label": "Dream", "label_es_mx_ca": "Sueño", "topology": ["dream_diffuse"],
              "description": "Diffuse, delayed and reverberant."},
}


def effect_metadata(code: str) -> dict[str, str]:
    return {"family": "participant_memory_color", "profile": code,
            "label": str(CATALOG[code]["label"]), "version": "v1"}
