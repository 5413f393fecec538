"""Prometheus metrics: one registry per app (tests build many apps in one process)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

# from the submodules: `rooms serve` does not run the package's __init__ (rooms.kit.lazyinit)
from prometheus_client.metrics import Counter, Gauge, Histogram
from prometheus_client.registry import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rooms_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("rooms_http_request_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5, 5))
        self.jobs_depth = Gauge("rooms_jobs_queue_depth", "Jobs waiting", registry=self.registry)
        self.jobs_failures = Gauge("rooms_jobs_recent_failures", "Recent job failures",
                                   registry=self.registry)
        self.live_connections = Gauge("rooms_live_connections", "Open live websockets",
                                      registry=self.registry)
        self.live_subscribers = Gauge("rooms_live_subscribers", "Live subscribers per topic",
                                      ["topic"], registry=self.registry)
        self.store_fallbacks = Counter(
            "rooms_store_local_fallbacks", "Store calls answered by this process while Redis "
            "did not answer (rate limits, lockout, live tokens, sign-outs)", ["op"],
            registry=self.registry)
        self.after_commit_failures = Counter(
            "rooms_after_commit_failures", "After-commit hooks that raised (the change itself "
            "was committed)", registry=self.registry)
        self.ops_auth_failures = Counter(
            "rooms_ops_auth_failures", "Wrong operator secrets, by where they were tried "
            "(login, bearer, ws)", ["via"], registry=self.registry)
        self.ops_lockouts = Counter(
            "rooms_ops_lockouts", "Operator sign-in locks started, per client or per IP",
            ["scope"], registry=self.registry)
        self.ops_locked_refusals = Counter(
            "rooms_ops_locked_refusals", "Operator secrets refused unchecked because the "
            "client or its IP was locked", ["via"], registry=self.registry)
        self.dependency_up = Gauge("rooms_dependency_up", "1 when a dependency answers",
                                   ["dependency"], registry=self.registry)
        self.loop_lag = Histogram(
            "rooms_event_loop_lag_seconds", "How late the event loop woke a task that slept "
            f"{LOOP_LAG_INTERVAL_S}s (blocking work on the loop shows here)",
            registry=self.registry, buckets=LOOP_LAG_BUCKETS)


LOOP_LAG_INTERVAL_S = 0.05
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@contextlib.asynccontextmanager
async def loop_lag_monitor(metrics: Metrics,
                           interval_s: float = LOOP_LAG_INTERVAL_S) -> AsyncIterator[None]:
    """While the block runs, sleep `interval_s` again and again and record how late each
    wake-up came (`rooms_event_loop_lag_seconds`; 20 wake-ups a second, ~nothing of CPU).
    Under load the lag is the queue of ready callbacks; a long tail is something blocking
    the loop (benchmarks/ingest.py --loop-lag reports it per run)."""
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while True:
            start = loop.time()
            await asyncio.sleep(interval_s)
            metrics.loop_lag.observe(max(0.0, loop.time() - start - interval_s))

    task = asyncio.create_task(watch(), name="rooms-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class MetricsMiddleware:
    """Counts requests by route template (not raw path, so tokens never become labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        res = getattr(scope["app"].state, "rooms", None) if "app" in scope else None
        if scope["type"] != "http" or res is None:
            await self.app(scope, receive, send)
            return
        metrics: Metrics = res.metrics
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            metrics.requests.labels(scope["method"], label, str(status)).inc()
            metrics.latency.labels(label).observe(time.perf_counter() - start)
