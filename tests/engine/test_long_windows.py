"""Long sliding windows: the values `having` reads equal a naive recomputation over the window.

Generated streams span hours with bursts and quiet gaps; the rules hold at
most `limit window` events one by one, so most of each window lives in
folded slices. After every event the key's aggregate values are compared
with a recomputation over the events of the window: exactly `(t - size, t]`,
or, while the oldest slice straddles the window's start (flag
`window-sliced`), from that slice's first event on, never more than one
slice width (1/60 of the window) before the start. Memory stays bounded:
at most `limit window` events held and 61 slices. A rule whose `having`
needs a count first keeps its other aggregates unbuilt below it and
must read the same values once built.
"""

from __future__ import annotations

import math

from corpus import compile_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.engine import Engine
from sleuth.engine.window import SLICES_PER_WINDOW

# In the rules: p is `status == 401`, x is `latency_ms`, v is `user` (labels renamed back by LABEL).
AGGS = ("count() >= 0 and count(status == 401) >= 0 and ratio(status == 401) >= 0 and sum(latency_ms) >= 0 "
        "and avg(latency_ms) >= 0 and min(latency_ms) >= 0 and max(latency_ms) >= 0 and distinct(user) >= 0 "
        "and entropy(user) >= 0 and cv(interarrival()) >= 0 and jitter(interarrival()) >= 0 "
        "and changes(user) >= 0 and count() < 0")
# `count() < 0` keeps every rule from firing: the test reads the values after each event.
LABEL = {"status == 401": "p", "latency_ms": "x", "user": "v"}


def _label(text: str) -> str:
    for k, v in LABEL.items():
        text = text.replace(f"({k})", f"({v})").replace(f"({k},", f"({v},")
    return text


def _rule(name: str, size: str, cap: int, having: str, emit: str = "") -> str:
    return f'''rule {name} {{
  meta {{ ttp = "spec-anomaly"  goal = "scraping"  severity = low  title = "t" }}
  window {size}
  limit window {cap}
  having {having}
  {emit}
}}
'''


PACK = compile_rules(_rule("hot", "1h", 40, AGGS, "emit { s = sample(user, 3) }")
                     + _rule("guarded", "2h", 25, "count() >= 30 and distinct(user) >= 1000 "
                                                   "and max(latency_ms) > 1000000 and changes(user) >= 1000"))


def _event(i: int, ts, p: bool, x, v) -> dict:
    return {"id": f"e{i}", "ts": ts, "status": 401 if p else 200, "latency_ms": x, "user": v}


def _num(x):
    return (type(x) is int or type(x) is float) and x == x


def naive(window: list[dict]) -> dict:
    """The aggregates over the window's events, recomputed from scratch (docs/semantics.md §5)."""
    n = len(window)
    ps = [e["status"] == 401 for e in window]
    xs = [e["latency_ms"] for e in window if _num(e.get("latency_ms"))]
    vs = [e["user"] for e in window if e.get("user") is not None]
    ts = [e["ts"] for e in window]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    out: dict = {"count()": n, "count(p)": sum(1 for p in ps if p is True),
                 "ratio(p)": (sum(1 for p in ps if p is True) / n) if n else None,
                 "sum(x)": sum(xs) if xs else 0, "avg(x)": (sum(xs) / len(xs)) if xs else None,
                 "min(x)": min(xs) if xs else None, "max(x)": max(xs) if xs else None,
                 "distinct(v)": len(set(vs))}
    counts: dict = {}
    for v in vs:
        counts[v] = counts.get(v, 0) + 1
    out["entropy(v)"] = (math.log2(len(vs)) - sum(c * math.log2(c) for c in counts.values()) / len(vs)) if vs else None
    if len(gaps) >= 2 and sum(gaps) > 0:
        mean = sum(gaps) / len(gaps)
        var = sum(g * g for g in gaps) / len(gaps) - mean * mean
        out["cv(interarrival())"] = math.sqrt(var) / mean if var > 0 else 0.0
        jit = [abs(b - a) for a, b in zip(gaps, gaps[1:])]
        out["jitter(interarrival())"] = (sum(jit) / len(jit)) / mean
    else:
        out["cv(interarrival())"] = None
        out["jitter(interarrival())"] = None if len(gaps) < 2 else None
    seq = [e.get("user") for e in window]
    out["changes(v)"] = sum(1 for a, b in zip(seq, seq[1:]) if a != b)
    first: list = []
    for v in vs:
        if v not in first:
            first.append(v)
    out["sample(v, 3)"] = first[:3]
    return out


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, list):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@st.composite
def streams(draw):
    """Integer-second event times over several hours: bursts (many events a second) and long gaps."""
    t = 1_000_000
    out = []
    for i in range(draw(st.integers(60, 260))):
        t += draw(st.sampled_from([0, 0, 1, 1, 2, 5, 30, 120, 900, 2400]))
        out.append(_event(i, t, draw(st.booleans()),
                          draw(st.one_of(st.none(), st.integers(0, 50), st.floats(0, 10, allow_nan=False))),
                          draw(st.one_of(st.none(), st.sampled_from("abcdefgh")))))
    return out


def check_stream(events: list[dict]) -> int:
    eng = Engine(PACK, lateness=0, future_confirm=1)
    folded_seen = 0
    for k, ev in enumerate(events):
        eng.feed(ev)
        now = ev["ts"]
        for m in eng.machines:
            st_ = m.states.get(())
            size = m.spec.window_size
            lim = now - size
            slices = st_.slices
            straddles = bool(slices) and slices[0][1] <= lim
            start = slices[0][1] if straddles else None
            window = [e for e in events[: k + 1] if (e["ts"] >= start if straddles else e["ts"] > lim)]
            assert straddles == ("window-sliced" in st_.capped_flags(m.spec.aggs, now))
            if straddles:
                assert start > lim - size / SLICES_PER_WINDOW
            assert len(st_.buf) - st_.head <= m.shape.cap
            assert len(slices or ()) <= SLICES_PER_WINDOW + 1
            folded_seen += st_.nf
            want = naive(window)
            if m.spec.name == "guarded" and len(window) < 30 and not st_.nf and st_.prev is False:
                # Below the count `having` needs, nothing was built since the last reset or start.
                assert all(a is None for i, a in enumerate(st_.aggs) if i in m.shape.cold_set) or st_.warm
            got = dict(zip((_label(a.label) for a in m.spec.aggs), st_.values(exact=True)))
            for label, value in got.items():
                assert _close(value, want[label]), (m.spec.name, k, label, value, want[label])
    return folded_seen


@settings(max_examples=40, deadline=None)
@given(streams())
def test_long_windows_equal_a_naive_recomputation(events):
    check_stream(events)


def test_a_day_long_window_at_a_steady_rate_is_bounded_and_exact():
    """24 hours at one event every 30 s (2,880 events) through a window holding 40: exact at every event."""
    pack = compile_rules(_rule("day", "24h", 40, "count() < 0 and distinct(user) >= 0 and sum(latency_ms) >= 0"))
    eng = Engine(pack, lateness=0, future_confirm=1)
    events = [_event(i, 1_000_000 + 30 * i, True, i % 11, "abcdefghij"[i % 7]) for i in range(3 * 2880)]
    m = eng.machines[0]
    for k, ev in enumerate(events):
        eng.feed(ev)
        if k % 97:
            continue
        st_ = m.states[()]
        lim = ev["ts"] - 86400
        slices = st_.slices
        straddles = bool(slices) and slices[0][1] <= lim
        window = [e for e in events[: k + 1] if (e["ts"] >= slices[0][1] if straddles else e["ts"] > lim)]
        got = dict(zip((_label(a.label) for a in m.spec.aggs), st_.values()))
        assert got["distinct(v)"] == len({e["user"] for e in window})
        assert got["sum(x)"] == sum(e["latency_ms"] for e in window)
        assert len(st_.buf) - st_.head <= 40 and len(slices or ()) <= 61
    assert m.folded > 8000


def test_folding_happens_in_the_generated_streams():
    """The generated streams do exercise folding (a guard against a test that checks nothing)."""
    events = [_event(i, 1_000_000 + i // 3, i % 2 == 0, i % 7, "abc"[i % 3]) for i in range(400)]
    assert check_stream(events) > 0
