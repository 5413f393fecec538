"""POST /ops/login, POST /ops/logout, GET /api/v1/node/status and the operator API:
controls, the audit trail and the workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from rooms.access import operator as auth
from rooms.access.operator import Operator, OperatorDep
from rooms.access.origin import origin_allowed
from rooms.deps import ResourcesDep, UowDep
from rooms.errors import Forbidden
from rooms.hours import ScheduleIn
from rooms.kit.bounds import Cursor, RowId
from rooms.models import ArtifactStatus
from rooms.openapi import Ok, errors
from rooms.ops import artifacts, controls, devices, schedule
from rooms.ops.schemas import (
    ActionsPage,
    ApprovedOut,
    ArtifactsPage,
    ArtifactSummaryOut,
    ControlsChangedOut,
    ControlsOut,
    DevicesOut,
    MetadataOut,
    NodeStatusOut,
    RemovedOut,
    RestartedOut,
    ReviewQueueOut,
    ScheduleOut,
    WorkersOut,
)
from rooms.ops.status import node_status
from rooms.playback.classify import Thresholds

router = APIRouter(tags=["ops"])
NO_STORE = {"Cache-Control": "no-store"}
LANDING = "/ops/"
ERRORS = errors(401, 403, 429, 503,
                e401="`ops_auth_required`: no valid session or bearer secret",
                e403="`ops_network_forbidden`: outside OPS_ALLOWED_NETWORKS",
                e429="`ops_login_locked`: a bearer secret from a client or IP locked out "
                     "by failed sign-ins, with Retry-After",
                e503="`ops_not_configured`: OPS_SHARED_SECRET is empty; "
                     "`database_unavailable`")
REDIRECT = {"description": "Signed in or out: on to the dashboard (`Location: /ops/`); "
                           "no body", "headers": {"Location": {"schema": {"type": "string"}}},
            "content": {}}


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _done(request: Request) -> Response:
    """A form post is sent on to the dashboard (303); a JSON client gets `{"ok": true}`."""
    if _wants_json(request):
        return JSONResponse({"ok": True}, headers=NO_STORE)
    return RedirectResponse(LANDING, status_code=303, headers=NO_STORE)


def _same_site(request: Request) -> None:
    if not origin_allowed(request, request.app.state.rooms.settings):
        raise Forbidden("sign-in is only accepted from this site's own pages",
                        code="ops_origin_forbidden")


@router.post("/ops/login", status_code=303, response_class=RedirectResponse, responses={
    303: REDIRECT,
    200: {"model": Ok, "description": "`{\"ok\": true}` when the client accepts JSON"},
    **errors(403, 429, 503, e403="`ops_bad_secret`, `ops_origin_forbidden` or "
                                 "`ops_network_forbidden`",
             e429="`ops_login_locked`, with Retry-After", e503=ERRORS[503]["description"])})
async def login(request: Request, res: ResourcesDep,
                secret: Annotated[str, Form()] = "") -> Response:
    """Sign in with the operator secret (form field `secret`); sets the session cookie."""
    _same_site(request)
    token = await auth.sign_in(request, res, secret)
    response = _done(request)
    auth.set_session_cookie(response, request, res.settings, token)
    return response


@router.post("/ops/logout", status_code=303, response_class=RedirectResponse, responses={
    303: REDIRECT,
    200: {"model": Ok, "description": "`{\"ok\": true}` when the client accepts JSON"},
    **errors(403, 503, e403="`ops_origin_forbidden`: not from this site's own pages")})
async def logout(request: Request, res: ResourcesDep) -> Response:
    """Sign out: the session stops working everywhere and its cookie is cleared."""
    _same_site(request)
    await auth.sign_out(request, res)
    response = _done(request)
    auth.clear_session_cookie(response, request, res.settings)
    return response


@router.get("/api/v1/node/status", response_model=NodeStatusOut, responses=ERRORS)
async def status(_: OperatorDep, res: ResourcesDep) -> JSONResponse:
    """Dependencies, archive counts, pool lanes and moods, disk, jobs, workers, live, warnings."""
    return JSONResponse(await node_status(res), headers=NO_STORE)


def _actor(who: Operator) -> str:
    return f"operator:{who.via}"


@router.get("/api/v1/operator/controls", response_model=ControlsOut, responses=ERRORS)
async def get_controls(_: OperatorDep, uow: UowDep) -> JSONResponse:
    """The steward's switches and the last few actions."""
    return JSONResponse(await controls.controls(uow.session), headers=NO_STORE)


@router.post("/api/v1/operator/controls", response_model=ControlsChangedOut,
             responses=ERRORS)
async def post_controls(body: controls.ControlsIn, who: OperatorDep,
                        uow: UowDep) -> JSONResponse:
    """Change any of the switches; each change is audited and pushed to live clients."""
    return JSONResponse(await controls.change(uow, body, _actor(who)), headers=NO_STORE)


@router.get("/api/v1/operator/actions", response_model=ActionsPage, responses=ERRORS)
async def get_actions(_: OperatorDep, uow: UowDep,
                      limit: Annotated[int, Query(ge=1, le=200)] = 50,
                      cursor: Cursor = None) -> JSONResponse:
    """The audit trail, newest first; `next_cursor` pages back."""
    rows = await controls.actions(uow.session, limit=limit, before=cursor)
    items = [controls.action_out(a) for a in rows]
    nxt = rows[-1].id if len(rows) == limit else None
    return JSONResponse({"items": items, "next_cursor": nxt}, headers=NO_STORE)


@router.get("/api/v1/operator/workers", response_model=WorkersOut, responses=ERRORS)
async def get_workers(_: OperatorDep, res: ResourcesDep) -> JSONResponse:
    """The supervisor's workers and its ring of recent crashes, newest first."""
    return JSONResponse(controls.workers_out(res), headers=NO_STORE)


@router.post("/api/v1/operator/workers/{name}/restart", response_model=RestartedOut,
             responses={**ERRORS, **errors(404, e404="`worker_not_found`")})
async def restart_worker(name: str, who: OperatorDep, uow: UowDep) -> JSONResponse:
    """Forget a worker's crash history and start it again if its conditions allow."""
    return JSONResponse(await controls.restart_worker(uow, name, _actor(who)),
                        headers=NO_STORE)


STATUSES = f"(?i)^({'|'.join(ArtifactStatus)})$"


@router.get("/api/v1/operator/artifacts", response_model=ArtifactsPage, responses=ERRORS)
async def list_artifacts(_: OperatorDep, uow: UowDep,
                         status: Annotated[str | None, Query(pattern=STATUSES)] = None,
                         topic_tag: Annotated[str | None, Query(max_length=64)] = None,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50,
                         cursor: Cursor = None) -> JSONResponse:
    """Takes newest first, with their pool lane, density and mood; `next_cursor` pages."""
    body = await artifacts.listing(uow.session, Thresholds.from_settings(uow.resources.settings),
                                   status=status, topic_tag=topic_tag, limit=limit,
                                   cursor=cursor)
    return JSONResponse(body, headers=NO_STORE)


@router.patch("/api/v1/operator/artifacts/{artifact_id}/metadata",
              response_model=MetadataOut,
              responses={**ERRORS, **errors(404, 410, e404="`artifact_not_found`")})
async def edit_artifact(artifact_id: RowId, body: artifacts.MetadataIn, who: OperatorDep,
                        uow: UowDep) -> JSONResponse:
    """Set a take's `topic_tag` and/or `lifecycle_status`; audited."""
    return JSONResponse(await artifacts.edit(uow, artifact_id, body, _actor(who)),
                        headers=NO_STORE)


NOT_FOUND = errors(404, 409, e404="`artifact_not_found`",
                   e409="`artifact_not_active` (remove), `not_held` (approve, reject)")


@router.post("/api/v1/operator/artifacts/{artifact_id}/remove", response_model=RemovedOut,
             responses={**ERRORS, **NOT_FOUND})
async def remove_artifact(artifact_id: RowId, who: OperatorDep, uow: UowDep) -> JSONResponse:
    """Remove a take from circulation: its blobs are deleted before this answers, it becomes
    REVOKED, the removal is audited and rooms hear it on `surface`."""
    return JSONResponse(await artifacts.remove(uow, artifact_id, _actor(who)), headers=NO_STORE)


@router.get("/api/v1/operator/artifact-summary", response_model=ArtifactSummaryOut,
            responses=ERRORS)
async def artifact_summary(_: OperatorDep, res: ResourcesDep) -> JSONResponse:
    """The archive in one JSON file (a download: `artifact-summary.json`)."""
    return JSONResponse(await artifacts.summary(res), headers={
        **NO_STORE, "Content-Disposition": 'attachment; filename="artifact-summary.json"'})


@router.get("/api/v1/operator/moderation", response_model=ReviewQueueOut, responses=ERRORS)
async def moderation_queue(_: OperatorDep, uow: UowDep) -> JSONResponse:
    """Takes waiting for review (MODERATION=hold), oldest first, with operator audio URLs."""
    return JSONResponse(await artifacts.review_queue(uow.session, uow.resources.settings),
                        headers=NO_STORE)


@router.post("/api/v1/operator/artifacts/{artifact_id}/approve", response_model=ApprovedOut,
             responses={**ERRORS, **NOT_FOUND})
async def approve_artifact(artifact_id: RowId, who: OperatorDep,
                           uow: UowDep) -> JSONResponse:
    """Let a held take into the pool; audited and announced."""
    return JSONResponse(await artifacts.approve(uow, artifact_id, _actor(who)),
                        headers=NO_STORE)


@router.post("/api/v1/operator/artifacts/{artifact_id}/reject", response_model=RemovedOut,
             responses={**ERRORS, **NOT_FOUND})
async def reject_artifact(artifact_id: RowId, who: OperatorDep,
                          uow: UowDep) -> JSONResponse:
    """Remove a held take as a revocation would (blobs deleted, REVOKED); audited."""
    return JSONResponse(await artifacts.reject(uow, artifact_id, _actor(who)),
                        headers=NO_STORE)


@router.get("/api/v1/operator/schedule", response_model=ScheduleOut, responses=ERRORS)
async def get_schedule(_: OperatorDep, uow: UowDep) -> JSONResponse:
    """The weekly opening hours in TIMEZONE, and what they open now."""
    return JSONResponse(await schedule.get(uow), headers=NO_STORE)


@router.put("/api/v1/operator/schedule", response_model=ScheduleOut,
            responses={**ERRORS, **errors(400, e400="`invalid_request` (a malformed window), "
                                                    "`invalid_timezone`")})
async def put_schedule(body: ScheduleIn, who: OperatorDep, uow: UowDep) -> JSONResponse:
    """Replace the weekly opening hours (`weekly: []`: always open); audited, announced on
    `surface`, enforced at once."""
    return JSONResponse(await schedule.put(uow, body, _actor(who)), headers=NO_STORE)


@router.get("/api/v1/operator/devices", response_model=DevicesOut, responses=ERRORS)
async def get_devices(_: OperatorDep, res: ResourcesDep) -> JSONResponse:
    """Kiosks and room pages that reported themselves, with when each was last heard."""
    return JSONResponse(await devices.listing(res), headers=NO_STORE)
