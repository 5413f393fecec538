"""Jobs every installation has."""

from __future__ import annotations

from sqlalchemy import select

from rooms.jobs.context import JobDeps
from rooms.jobs.registry import JobContext, job
from rooms.models import Node


@job(timeout_s=30)
async def ensure_node(ctx: JobContext) -> int:
    """Create the Node row from NODE_NAME / NODE_LOCATION_HINT once; return its id."""
    deps = JobDeps.of(ctx)
    async with deps.sessions.begin() as session:
        node = (await session.execute(select(Node).order_by(Node.id).limit(1))).scalar()
        if node is None:
            node = Node(name=deps.settings.node_name,
                        location_hint=deps.settings.node_location_hint)
            session.add(node)
            await session.flush()
        return node.id
