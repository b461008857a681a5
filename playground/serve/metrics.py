"""Prometheus metrics for `sleuth serve` and the ASGI middleware (prometheus-client).

Stage: beside the Guard. Latency histograms and answer counters are
observed where requests are answered; the engines' counters (events,
matches, quarantine, evictions, decisions) are read from `Guard.stats()` by
the engine's owner at scrape time and exposed by a custom collector, so
nothing is counted twice and no engine state is read from another thread.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# Added latency is sub-millisecond when all is well: fine buckets there, coarse above.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """The registry of one service: histograms, answer counters and the engines' counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("sleuth_decision_seconds", "Time to answer a decision request (added latency)",
                                 ["endpoint"], buckets=BUCKETS, registry=self.registry)
        self.engine_latency = Histogram("sleuth_engine_seconds", "Time in the engine per request (feed and check)",
                                        buckets=BUCKETS, registry=self.registry)
        self.ingest_latency = Histogram("sleuth_ingest_seconds", "Time to ingest one log batch",
                                        buckets=(0.001, 0.01, 0.1, 1.0, 10.0), registry=self.registry)
        self.answers = Counter("sleuth_answers", "Decision requests answered, by action",
                               ["action"], registry=self.registry)
        self.failures = Counter("sleuth_failures", "Requests answered without the engine (fail-open or closed)",
                                ["reason", "outcome"], registry=self.registry)
        self.stats: dict | None = None
        self.queue_depth = 0
        self.queued = 0
        self.registry.register(_StatsCollector(self))

    def render(self, stats: dict | None, queue_depth: int = 0, queued: int = 0) -> bytes:
        """The exposition text, with the engines' counters from `stats` (a `Guard.stats()`)."""
        self.stats = stats
        self.queue_depth = queue_depth
        self.queued = queued
        return generate_latest(self.registry)


class _StatsCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self):
        return []

    def collect(self):
        st = self.metrics.stats
        if not st:
            return
        events = CounterMetricFamily("sleuth_events", "Events taken by an engine", labels=["channel"])
        processed = CounterMetricFamily("sleuth_events_processed", "Events an engine processed", labels=["channel"])
        matches = CounterMetricFamily("sleuth_matches", "Matches emitted", labels=["channel", "rule"])
        evictions = CounterMetricFamily("sleuth_evictions", "Keys evicted by an engine's memory bound",
                                        labels=["channel"])
        keys = GaugeMetricFamily("sleuth_keys", "Live keys held by an engine", labels=["channel"])
        for ch in ("live", "log"):
            s = st.get(ch)
            if not s:
                continue
            events.add_metric([ch], s["events_in"])
            processed.add_metric([ch], s["events_processed"])
            evictions.add_metric([ch], s["evictions"])
            keys.add_metric([ch], s["keys"])
            for rule, n in s["matches_by_rule"].items():
                matches.add_metric([ch, rule], n)
        yield from (events, processed, matches, evictions, keys)
        q = CounterMetricFamily("sleuth_quarantined", "Bad input set aside, by reason", labels=["reason"])
        for reason, n in st["quarantined"].items():
            q.add_metric([reason], n)
        yield q
        pol = st["policy"]
        d = CounterMetricFamily("sleuth_decisions", "Policy decisions made, by action", labels=["action"])
        for a, n in pol["decisions"].items():
            d.add_metric([a], n)
        yield d
        e = CounterMetricFamily("sleuth_enforced", "Requests answered by an active decision, by action",
                                labels=["action"])
        for a, n in pol["enforced"].items():
            e.add_metric([a], n)
        yield e
        yield _counter("sleuth_policy_evictions", "Active decisions evicted by max_active", pol["evictions"])
        yield _counter("sleuth_allowlisted", "Requests an allow-list let through", pol["allowlisted"])
        yield _counter("sleuth_throttle_passed", "Throttled requests that had a token", pol["throttle_passed"])
        yield _gauge("sleuth_active_decisions", "Active decisions (key and action)", pol["active"])
        yield _gauge("sleuth_queue_depth", "Requests waiting for the engine", self.metrics.queue_depth)
        yield _counter("sleuth_queued", "Decision requests that found the engine busy and waited for the worker",
                       self.metrics.queued)
        w = st.get("writer")
        if w:
            dropped = CounterMetricFamily("sleuth_output_dropped", "Output lines dropped (writer queue full)",
                                          labels=["stream"])
            for stream, n in w["dropped"].items():
                dropped.add_metric([stream], n)
            yield dropped


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    c = CounterMetricFamily(name, doc)
    c.add_metric([], value)
    return c


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g
