"""Jobs every installation has: the node row that names this installation."""

from __future__ import annotations

from sqlalchemy import select

from rooms.jobs.registry import JobContext, job
from rooms.models import Node
from rooms.uow import unit_of_work


@job(timeout_s=30)
async def ensure_node(ctx: JobContext) -> int:
    """Create the Node row from NODE_NAME / NODE_LOCATION_HINT once; return its id."""
    async with unit_of_work(ctx["resources"]) as uow:
        await uow.begin_write()
        session = uow.session
        node = (await session.execute(select(Node).order_by(Node.id).limit(1))).scalar()
        if node is None:
            node = Node(name=uow.settings.node_name,
                        location_hint=uow.settings.node_location_hint)
            session.add(node)
            await session.flush()
        return node.id
