"""ORM models, one file per table. Import from here so every table is registered."""

from rooms.models.access_event import AccessEvent
from rooms.models.artifact import Artifact
from rooms.models.base import Base, utcnow
from rooms.models.consent import ConsentManifest
from rooms.models.derivative import Derivative
from rooms.models.enums import ArtifactStatus, ConsentMode, DerivativeKind, StewardActionName
from rooms.models.hours import OpeningHours
from rooms.models.import_ledger import ImportEntry
from rooms.models.node import Node
from rooms.models.steward import StewardAction, StewardState

__all__ = [
    "AccessEvent",
    "Artifact",
    "ArtifactStatus",
    "Base",
    "ConsentManifest",
    "ConsentMode",
    "Derivative",
    "DerivativeKind",
    "ImportEntry",
    "Node",
    "OpeningHours",
    "StewardAction",
    "StewardActionName",
    "StewardState",
    "utcnow",
]
