"""Prometheus metrics shared by the plumbing; services add their own beside them."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "actiepunten_events_processed", "Records consumed and processed", ["topic", "type"]
)
EVENTS_SKIPPED = Counter(
    "actiepunten_events_skipped",
    "Records consumed and skipped (already processed, unknown or irrelevant type)",
    ["topic", "reason"],
)
EVENTS_DEAD_LETTERED = Counter(
    "actiepunten_events_dead_lettered", "Records sent to the dead-letter topic", ["topic"]
)
CONSUMER_LAG = Gauge(
    "actiepunten_consumer_lag",
    "Records behind the partition's high watermark",
    ["topic", "partition"],
)
EVENTS_PUBLISHED = Counter(
    "actiepunten_events_published", "Integration events published by the outbox relay", ["topic"]
)
RELAY_BACKLOG = Gauge(
    "actiepunten_relay_backlog",
    "Stored notifications the outbox relay has not published",
    ["topic"],
)
TRANSIENT_RETRIES = Counter(
    "actiepunten_transient_retries", "Handler attempts retried after a transient failure", ["topic"]
)
HTTP_REQUESTS = Counter(
    "actiepunten_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "actiepunten_http_request_duration_seconds",
    "HTTP request latency, by method, route template and status",
    ["method", "route", "status"],
)
BATCH_FALLBACKS = Counter(
    "actiepunten_batch_fallbacks",
    "Consumed batches that failed as one transaction and were processed one record at a time",
    ["topic"],
)
