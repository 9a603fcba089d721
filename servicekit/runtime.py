"""Start-up shared by every service: Kafka producer, outbox relay, consumers, HTTP app."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any, Literal, Protocol

import psycopg
import uvicorn
from eventsourcing.persistence import DataError, IntegrityError, PersistenceError
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit import tracing
from servicekit.consumer import (
    BatchHandler,
    DeadLetters,
    Handler,
    Opener,
    PositionStore,
    TrackingConsumer,
)
from servicekit.domain import DomainError
from servicekit.eventstore import AggregateOfAnotherOffice, TrackedApplication
from servicekit.gctuning import tune_for_throughput
from servicekit.kafka import Publisher, asyncapi_document, declare_consumed, make_broker
from servicekit.keyclient import DataKeyClient
from servicekit.outbox import OutboxMappings, OutboxRelay, Translate
from servicekit.probes import Readiness
from servicekit.retry import Backoff
from servicekit.sealing import KeysUnreachable
from servicekit.settings import Settings, service_url
from servicekit.topicconfig import TopicProblem, check_topics
from servicekit.tracing import TracingMiddleware
from shared.events import topics as topic_names
from shared.events.codec import decode

log = logging.getLogger(__name__)


class KafkaSide(Protocol):
    """A service's ``kafka`` module: what it publishes (its outbox table) and consumes; an
    optional ``batch_handler(app)`` takes a consumed batch in one transaction (of the types in
    an optional ``BATCHED``; default all)."""

    @property
    def PUBLISHES(self) -> str: ...  # read-only: module constants

    @property
    def CONSUMES(self) -> Sequence[str]: ...

    @property
    def DLQ(self) -> str: ...

    @property
    def OUTBOX(self) -> OutboxMappings: ...

    def declare(self, broker: KafkaBroker) -> None: ...

    def handlers(self, app: Any) -> Mapping[str, Handler]: ...


SEALED_BY = "dossiercontrole"
"""The service that keeps the dossiers' data keys, and gives them."""
SEALED_TOPICS = frozenset({topic_names.DOSSIERCONTROLE, topic_names.SCENARIO})
"""Our topics whose records carry sealed personal fields (opened with ``SEALED_BY``'s keys)."""


class Runtime:
    """The background work of one service process, started and stopped with its HTTP app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        tracing.configure(settings.service)
        self.broker = make_broker(settings.kafka, idempotence=settings.kafka_idempotence)
        self.publisher = Publisher(self.broker, principal=settings.kafka.principal)
        # Never started: it declares the consumed topics for /asyncapi.json (declare_consumed).
        self.consumed = make_broker(settings.kafka, idempotence=False)
        self.readiness = Readiness()
        self._jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closers: list[Callable[[], None]] = []
        self._stoppers: dict[str, Callable[[], None]] = {}
        self._deadline: float | None = None  # time.monotonic() by which the process is gone
        self.topics: set[str] = set()  # what the service reads and writes, for the check
        self.topic_problems: list[TopicProblem] = []
        self._topic_check: asyncio.Task[None] | None = None
        self._data_keys: DataKeyClient | None = None

    def relay(
        self, app: TrackedApplication, topic: str, translate: Translate, *, dlq_topic: str
    ) -> OutboxRelay:
        dead_letters = DeadLetters(
            self.publisher, dlq_topic, f"actiepunten.{self.settings.service}"
        )
        self.topics.update((topic, dlq_topic))
        relay = OutboxRelay(
            app,
            topic,
            translate,
            self.publisher.publish_events,
            quarantine=dead_letters.quarantine,
            # Replicas share the store: one relay holds the lease (servicekit.lease). The
            # holder does not hear of other replicas' saves, so it polls often.
            shared=True,
            poll_interval=0.25,
        )
        self.add_job(f"relay:{topic}", relay.run, stop=relay.stop)
        return relay

    def consumer(
        self,
        *,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        positions: PositionStore,
        dlq_topic: str,
        batch_handler: BatchHandler | None = None,
        batch_types: Collection[str] | None = None,
        batch_decode: Callable[[str, bytes | None], Any] = decode,
        opener: Opener | None = None,
    ) -> TrackingConsumer:
        """``opener``: how the sealed fields of consumed records are opened; by default with
        keys from the dossier check (``data_keys``) when a topic carries sealed fields."""
        name = f"actiepunten.{self.settings.service}"
        self.topics.update((*topics, dlq_topic))
        consumer = TrackingConsumer(
            name=name,
            kafka=self.settings.kafka,
            group_id=self.settings.consumer_group,
            topics=topics,
            handlers=handlers,
            positions=positions,
            dead_letters=DeadLetters(self.publisher, dlq_topic, name),
            batch_handler=batch_handler,
            batch_types=batch_types,
            opener=opener or (self.data_keys().open if SEALED_TOPICS & set(topics) else None),
            batch_decode=batch_decode,
        )
        self.add_job("consumer", consumer.run, stop=consumer.stop)
        for topic in topics:
            declare_consumed(
                self.consumed,
                topic,
                group_id=self.settings.consumer_group,
                service=self.settings.service,
            )
        self.readiness.add_consumer(consumer)
        # The consumer's positions live in the service's store: reading one asks the store.
        self.readiness.add_store(self.settings.service, lambda: positions.max_tracking_id(name))
        return consumer

    def data_keys(self) -> DataKeyClient:
        """The dossiers' keys for the sealed fields of what this service consumes, from the
        dossier-check service (``ACTIEPUNTEN_DOSSIERCONTROLE_URL``), with a ``service``
        token signed by ``ACTIEPUNTEN_JWT_SECRET``."""
        if self._data_keys is None:
            self._data_keys = DataKeyClient(
                service_url(SEALED_BY), self.settings.jwt_secret, name=self.settings.service
            )
        return self._data_keys

    def event_sourced(
        self, app: TrackedApplication, kafka: KafkaSide, *, opener: Opener | None = None
    ) -> None:
        """The usual wiring of an event-sourced service: what it publishes declared, its outbox
        relayed, what it consumes followed into its store (``opener``: see ``consumer``), the
        store closed at the end."""
        kafka.declare(self.broker)
        self.relay(app, kafka.PUBLISHES, kafka.OUTBOX.translator(app), dlq_topic=kafka.DLQ)
        batch = getattr(kafka, "batch_handler", None)
        self.consumer(
            topics=kafka.CONSUMES,
            handlers=kafka.handlers(app),
            positions=app,
            dlq_topic=kafka.DLQ,
            batch_handler=batch(app) if batch is not None else None,
            batch_types=getattr(kafka, "BATCHED", None),
            opener=opener,
        )
        self.on_close(app.close)

    def add_job(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        *,
        stop: Callable[[], None] | None = None,
    ) -> None:
        """A background job; ``stop`` asks it to return at a safe point on shutdown. A job
        without one is cancelled at once when the service stops."""
        self._jobs.append((name, job))
        if stop is not None:
            self._stoppers[name] = stop

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def failed_jobs(self) -> list[str]:
        return [name for name, task in self._tasks.items() if task.done()]

    @property
    def shutting_down(self) -> bool:
        return self._deadline is not None

    def begin_shutdown(self) -> None:
        """Shutdown begins (SIGTERM): /readyz answers 503 from now on, and the grace period
        (``ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS``) starts."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.settings.shutdown_grace_seconds
            self.readiness.shutting_down = True
            log.info("shutting down within %g s", self.settings.shutdown_grace_seconds)

    def seconds_left(self) -> float:
        """Of the grace period; the whole of it before shutdown began."""
        if self._deadline is None:
            return self.settings.shutdown_grace_seconds
        return max(0.0, self._deadline - time.monotonic())

    async def _stop_jobs(self) -> None:
        """Ask the consumers and relays to stop at a safe point (the consumer after its record
        in hand, committed; the relay after its batch) and wait for them within what is left of
        the grace period, keeping a second to close the producer; jobs that cannot be asked
        are cancelled at once. Cancel what is still running then (safe too: a record is tracked
        in the same transaction as its effect, and a batch the relay did not record as
        published is published again)."""
        self.begin_shutdown()
        for name, task in self._tasks.items():
            stop = self._stoppers.get(name)
            if stop is None:
                task.cancel()
            else:
                stop()
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, self.seconds_left() - 1.0))
            for task in pending:
                log.warning("%s did not stop within the grace period; cancelled", task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self._start_broker()
        self._topic_check = asyncio.create_task(self._check_topics(), name="topic-check")
        for name, job in self._jobs:
            self._tasks[name] = asyncio.create_task(self._supervised(name, job), name=name)
        try:
            yield
        finally:
            self._topic_check.cancel()
            await self._stop_jobs()
            self._tasks.clear()
            await self.broker.stop()
            for closer in self._closers:
                closer()

    async def _check_topics(self) -> None:
        """Report topics whose settings would lose history (servicekit.topicconfig); never
        stops the service."""
        for attempt in range(5):
            try:
                self.topic_problems = await check_topics(self.settings.kafka, self.topics)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("topic configuration not checked (attempt %d): %s", attempt + 1, error)
                await asyncio.sleep(2.0)

    async def _start_broker(self) -> None:
        backoff = Backoff(0.5, 5.0)
        for _attempt in range(60):
            try:
                await self.broker.start()
                self.readiness.producer_started = True
                return
            except Exception as error:
                log.warning("Kafka not reachable yet (%s); retrying", error)
                await self.broker.stop()
                # A SIGTERM while waiting ends the wait (uvicorn then exits with 3, "startup
                # failed"), rather than outliving the grace period.
                await backoff.sleep(unless=lambda: self.shutting_down)
                if self.shutting_down:
                    raise RuntimeError("stopped while waiting for Kafka") from error
        raise RuntimeError(f"Kafka at {self.settings.kafka_bootstrap_servers} did not answer")

    @staticmethod
    async def _supervised(name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Restart a background job that crashed: the service carries on."""
        while True:
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s crashed; restarting in 1s", name)
                await asyncio.sleep(1.0)


class HealthOut(BaseModel):
    """``ok`` with the service's name (and warnings, such as a topic's wrong retention), or
    ``failing`` with the background jobs that stopped."""

    status: Literal["ok", "failing"]
    service: str | None = None
    warnings: list[str] | None = None
    failed: list[str] | None = None


class ReadyOut(BaseModel):
    """``ready``, or ``not ready`` with what is wrong (store, producer, consumers, jobs)."""

    status: Literal["ready", "not ready"]
    service: str
    problems: dict[str, str] | None = None


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for ``path`` (and HEAD with GET). Starlette's 405
    names only the methods of the first route that matched the path, while FastAPI makes a route
    per method, so it would leave out the others."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def http_app(runtime: Runtime, *, title: str, description: str) -> FastAPI:
    """The service's FastAPI app with /health, /metrics and /asyncapi.json beside its routes."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    # FastAPI's own OpenTelemetry server span (FastAPI >= 0.16x) is not current while the
    # endpoint runs; ours is (TracingMiddleware), so that what a command stores carries it.
    # In production the API's documents are not served (ACTIEPUNTEN_API_DOCS=false): they map
    # every route and parameter for whoever reaches the port. The schema is still built in
    # process (``_allowed_methods`` reads it).
    docs = runtime.settings.api_docs
    app = FastAPI(
        title=title,
        description=description,
        lifespan=lifespan,
        telemetry={"tracing": False},
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    app.add_middleware(TracingMiddleware)
    for kinds, answer in ERROR_ANSWERS:
        for kind in kinds:
            app.add_exception_handler(kind, answer)
    app.include_router(operations)
    return app


# --- how errors are answered: one table for every service ------------------------------------


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in error.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        allow = ", ".join(_allowed_methods(request.app, request.url.path))
        error = StarletteHTTPException(405, error.detail, headers={"Allow": allow})
    return await http_exception_handler(request, error)


async def _refused(_: Request, error: Exception) -> JSONResponse:
    # The one place where a refusal of the domain becomes an HTTP answer: by its kind.
    status = error.status if isinstance(error, DomainError) else 422
    return JSONResponse({"detail": str(error)}, status_code=status)


async def _conflict(_: Request, error: Exception) -> JSONResponse:
    # Saved by someone else at the same moment, and the command did not retry: say so.
    return JSONResponse(
        {"detail": "the resource changed at the same moment; try again"}, status_code=409
    )


async def _unstorable(_: Request, error: Exception) -> JSONResponse:
    # A value the store can never hold (the request models refuse the known cases, such as
    # NUL): the request is wrong, not the store, and retrying it changes nothing.
    log.warning("store refused a value: %s", error)
    return JSONResponse({"detail": f"a value cannot be stored: {error}"}, status_code=422)


async def _not_this_offices(_: Request, error: Exception) -> JSONResponse:
    # Another office's: the same answer as for something that does not exist (SPEC 4).
    log.warning("refused another office's aggregate: %s", error)
    return JSONResponse({"detail": "not found"}, status_code=404)


async def _store_unavailable(_: Request, error: Exception) -> JSONResponse:
    # The store is down or busy: nothing was changed, the caller may try again.
    log.warning("store unavailable: %s", error)
    return JSONResponse(
        {"detail": "the service's store is unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _keys_unreachable(_: Request, error: Exception) -> JSONResponse:
    # Personal data is stored sealed with a key the dossier check gives: without it nothing
    # is stored (never in plain text), and the caller may try again.
    log.warning("data keys unavailable: %s", error)
    return JSONResponse(
        {
            "detail": "the dossier check does not give the dossier's data key now, so nothing "
            "was stored; try again shortly"
        },
        status_code=503,
        headers={"Retry-After": "2"},
    )


ErrorAnswer = Callable[[Request, Exception], Awaitable[Response]]
ERROR_ANSWERS: tuple[tuple[tuple[type[Exception], ...], ErrorAnswer], ...] = (
    ((RequestValidationError,), _validation_error),
    ((StarletteHTTPException,), _http_error),
    ((DomainError,), _refused),
    ((IntegrityError,), _conflict),
    ((DataError, psycopg.DataError), _unstorable),
    ((AggregateOfAnotherOffice,), _not_this_offices),
    ((PersistenceError, psycopg.OperationalError), _store_unavailable),
    ((KeysUnreachable,), _keys_unreachable),
)
"""Which errors get which answer (a subclass takes the answer of its nearest listed class)."""


# --- what every service answers without a token ----------------------------------------------

operations = APIRouter(tags=["operations"])


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


@operations.get(
    "/health",
    response_model=HealthOut,
    response_model_exclude_none=True,
    responses={503: {"model": HealthOut, "description": "A background job stopped"}},
)
async def health(request: Request) -> Any:
    runtime = _runtime(request)
    failed = runtime.failed_jobs()
    if failed:
        return JSONResponse({"status": "failing", "failed": failed}, status_code=503)
    # Topic problems are reported, not fatal: the service works; a replay would miss history.
    warnings = [str(problem) for problem in runtime.topic_problems] or None
    return HealthOut(status="ok", service=runtime.settings.service, warnings=warnings)


@operations.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@operations.get("/asyncapi.json")
async def asyncapi(request: Request) -> Mapping[str, Any]:
    runtime = _runtime(request)
    return asyncapi_document(runtime.broker, runtime.consumed, title=request.app.title)


@operations.get("/livez", response_model=HealthOut)
async def livez(request: Request) -> Mapping[str, Any]:
    """The process answers (a liveness probe that fails restarts it)."""
    return {"status": "ok", "service": _runtime(request).settings.service}


@operations.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready: the problems"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Store reachable, producer started, consumers assigned or joining (503 otherwise)."""
    runtime = _runtime(request)
    problems = await runtime.readiness.problems()
    problems.update({f"job:{name}": "stopped" for name in runtime.failed_jobs()})
    service = runtime.settings.service
    if problems:
        return JSONResponse(
            {"status": "not ready", "service": service, "problems": problems}, status_code=503
        )
    return JSONResponse({"status": "ready", "service": service})


class GracefulServer(uvicorn.Server):
    """uvicorn, stopping as a pod should on SIGTERM (or Ctrl-C): /readyz turns 503 at once;
    requests are still taken for ``ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS`` (while the load
    balancer notices); then no new connections, requests in flight finish, the consumers and
    relays stop at a safe point, the consumer leaves its group, and the process exits with 0,
    all within ``ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS``. A second Ctrl-C exits at once."""

    # The share of the grace period kept for the background jobs and the producer once the
    # requests in flight are done (or cut off).
    JOBS_SECONDS = 5.0

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in uvicorn's captured signals: it would raise SIGTERM again on the way
        # out, and the process would end "killed by SIGTERM" (143) rather than with 0.
        if self.runtime.shutting_down:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        self.runtime.begin_shutdown()
        settings = self.runtime.settings
        drain = min(settings.shutdown_drain_seconds, settings.shutdown_grace_seconds)
        self._exit_at = time.monotonic() + drain
        self.config.timeout_graceful_shutdown = max(
            1, int(settings.shutdown_grace_seconds - drain - self.JOBS_SECONDS)
        )

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


def serve(app: FastAPI, settings: Settings) -> None:
    """Run one service in the foreground, as a deployment does."""
    tracing.log_as_json_lines(settings.service)  # with the trace id of the request or record
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers write through the root's JSON lines too
        lifespan="on",
    )
    tune_for_throughput()
    try:
        GracefulServer(config, app.state.runtime).run()
    finally:
        tracing.shutdown()  # export the spans still pending
