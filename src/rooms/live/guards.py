"""Who may open a live websocket: browser Origin, operator secret, operator networks.

The operator checks live in rooms.access.operator and the Origin rule in
rooms.access.origin; they are re-exported here.
"""

from __future__ import annotations

from rooms.access.operator import bearer_is_ops_secret, ops_network_allowed
from rooms.access.origin import allowed_hosts, origin_allowed

__all__ = ["allowed_hosts", "bearer_is_ops_secret", "ops_network_allowed", "origin_allowed"]
