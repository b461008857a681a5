"""Properties of the engine over random streams (hypothesis).

* Reordering within the lateness does not change the output: any arrival
  order in which no event comes more than `lateness` seconds after a
  later-stamped one gives byte-identical JSON lines to the sorted stream
  (docs/semantics.md section 1).
* Every incremental aggregate equals a naive recomputation over the same
  window. The window is rebuilt from the events themselves ((t-size, t],
  [k*size, (k+1)*size) or gap-separated sessions), and the provenance must
  list exactly those events. Exact aggregates compare exactly; cv, jitter,
  entropy and avg compare within a relative 1e-9.
* Determinism: the same input twice, or through a pack compiled twice,
  gives byte-identical output.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

hypothesis = pytest.importorskip("hypothesis")
from corpus import compile_rules, json_lines, run_items  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from streams import MIXED_PACK, arrival, event_lists, max_disorder, stable_sorted  # noqa: E402

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MIXED = compile_rules(MIXED_PACK)


def _run(pack, events, lateness):
    eng, out = run_items(pack, events, {"lateness": lateness})
    return eng, [m for m, _ in out]


# ---------------------------------------------------------------- reordering


@PROPS
@given(data=st.data(), events=event_lists(max_size=70), lateness=st.sampled_from([0, 1, 5, 10]))
def test_shuffle_within_lateness_gives_the_sorted_output(data, events, lateness):
    jitter = data.draw(st.lists(st.floats(0, lateness), min_size=len(events), max_size=len(events)),
                       label="jitter")
    arrived = arrival(events, jitter)
    assert max_disorder(arrived) <= lateness
    eng, shuffled = _run(MIXED, arrived, lateness)
    assert eng.metrics["late"] == 0, "an event within the lateness was quarantined as late"
    _, reference = _run(MIXED, stable_sorted(arrived), lateness)
    assert json_lines(shuffled) == json_lines(reference)


@PROPS
@given(events=event_lists(max_size=70))
def test_lateness_does_not_change_the_output_of_a_sorted_stream(events):
    """No event of a sorted stream is late, so the lateness only delays decisions."""
    _, reference = _run(MIXED, events, 0)
    for lateness in (5, 1e6):
        _, other = _run(MIXED, events, lateness)
        assert json_lines(other) == json_lines(reference), f"lateness {lateness}"


def test_shuffle_property_is_not_vacuous():
    """The mixed pack does fire on ordinary streams: every rule at least once over a few seeds."""
    import random

    fired = Counter()
    rnd = random.Random(7)
    from streams import AGENTS, GAPS, IPS, METHODS, ROUTES, STATUSES, USERS

    for _ in range(20):
        t = 1000.0
        events = []
        for i in range(150):
            t += rnd.choice(GAPS)
            events.append({"id": f"x{i}", "ts": t, "user": rnd.choice(USERS), "src_ip": rnd.choice(IPS),
                           "route": rnd.choice(ROUTES), "status": rnd.choice(STATUSES),
                           "method": rnd.choice(METHODS), "ua": rnd.choice(AGENTS)})
        _, out = _run(MIXED, events, 5)
        fired.update(m.rule for m in out)
    assert set(fired) == {r.name for r in MIXED.rules}, fired


# ---------------------------------------------------------------- determinism


@PROPS
@given(events=event_lists(max_size=60), lateness=st.sampled_from([0, 5]))
def test_same_input_gives_identical_bytes(events, lateness):
    _, first = _run(MIXED, events, lateness)
    _, second = _run(MIXED, events, lateness)
    _, recompiled = _run(compile_rules(MIXED_PACK), events, lateness)
    assert json_lines(first) == json_lines(second) == json_lines(recompiled)


# ---------------------------------------------------------------- aggregates

SLIDE, TUMBLE, GAP = 20.0, 30.0, 6.0
FIRST_SEEN_H = {"slide": 10.0, "tumble": 10.0, "sess": 5.0}
# first_seen's horizon stays below each rule's idle horizon (window size or
# session gap): a key idle longer than that is reset, which is the engine bug
# pinned by windows.toml "first_seen remembers values for h ...".

_EMIT = '''emit {{
    c = count(), c401 = count(status == 401), r401 = ratio(status == 401),
    du = distinct(user), sb = sum(resp_bytes), mn = min(latency_ms), mx = max(latency_ms),
    av = avg(latency_ms), en = entropy(route), cv = cv(interarrival()),
    ji = jitter(interarrival()), ch = changes(user), sa = sample(user, 3), ra = rate(),
    fs = first_seen(ua, {h})
  }}'''
_META = 'meta { ttp = "scraping"  goal = "scraping"  severity = low  title = "t" }'
AGG_PACK = f'''
rule slide {{
  {_META}
  by src_ip
  window 20s
  where method != "HEAD"
  having count() >= 1
  refire cooldown 1ms
  limit events 10000
  {_EMIT.format(h="10s")}
}}
rule tumble {{
  {_META}
  by src_ip
  window 30s tumbling
  where method != "HEAD"
  having count() >= 1
  limit events 10000
  {_EMIT.format(h="10s")}
}}
rule sess {{
  {_META}
  by src_ip
  window session gap 6s
  where method != "HEAD"
  having count() >= 1
  limit events 10000
  {_EMIT.format(h="5s")}
}}
'''
AGG = compile_rules(AGG_PACK)
FLOATING = {"av", "en", "cv", "ji"}

_maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
_agg_row = st.tuples(
    st.sampled_from((0.5, 1, 1.5, 2, 3, 5, 7, 11, 25)),
    st.sampled_from(("1.1.1.1", "2.2.2.2")),
    _maybe(st.sampled_from(("a", "b", "c", "d"))),
    st.sampled_from((200, 401, 403)),
    _maybe(st.integers(0, 5000)),
    _maybe(st.sampled_from((0.5, 1.0, 2.25, 10.0, 99.5))),
    st.sampled_from(("/a", "/b", "/c")),
    _maybe(st.sampled_from(("u1", "u2"))),
    st.sampled_from(("GET", "GET", "POST", "HEAD")),
)


def _agg_events(rows):
    t = 500.0
    out = []
    for i, (gap, ip, user, status, rb, lat, route, ua, method) in enumerate(rows):
        t += gap
        ev = {"id": f"a{i}", "ts": t, "src_ip": ip, "status": status, "route": route, "method": method}
        for k, v in (("user", user), ("resp_bytes", rb), ("latency_ms", lat), ("ua", ua)):
            if v is not None:
                ev[k] = v
        out.append(ev)
    return out


def _entropy(values):
    if not values:
        return None
    n = len(values)
    h = -sum(c / n * math.log2(c / n) for c in Counter(values).values())
    return h if h > 1e-12 else 0.0


def _gaps(ts):
    return [b - a for a, b in zip(ts, ts[1:])]


def _cv(ts):
    g = _gaps(ts)
    if len(g) < 2:
        return None
    mean = sum(g) / len(g)
    if mean <= 0:
        return None
    var = sum((x - mean) ** 2 for x in g) / len(g)
    return math.sqrt(var) / mean if var > 0 else 0.0


def _jitter(ts):
    g = _gaps(ts)
    if len(g) < 2:
        return None
    mean = sum(g) / len(g)
    if mean <= 0:
        return None
    return (sum(abs(b - a) for a, b in zip(g, g[1:])) / (len(g) - 1)) / mean


def naive(window, history, rate_span, h):
    """Every aggregate of MIXED's emit, recomputed from scratch over `window` (a list of events)."""
    users = [e.get("user") for e in window]
    lat = [e["latency_ms"] for e in window if "latency_ms" in e]
    rb = [e["resp_bytes"] for e in window if "resp_bytes" in e]
    n = len(window)
    c401 = sum(1 for e in window if e["status"] == 401)
    sample = []
    for u in users:
        if u is not None and u not in sample and len(sample) < 3:
            sample.append(u)
    last = window[-1]
    fs = None
    if last.get("ua") is not None:
        prev = [e["ts"] for e in history if e.get("ua") == last["ua"] and e["ts"] < last["ts"]]
        fs = not prev or last["ts"] - max(prev) > h
    return {
        "c": n, "c401": c401, "r401": c401 / n if n else None,
        "du": len({u for u in users if u is not None}),
        "sb": sum(rb) if rb else 0, "mn": min(lat) if lat else None, "mx": max(lat) if lat else None,
        "av": sum(lat) / len(lat) if lat else None,
        "en": _entropy([e["route"] for e in window]),
        "cv": _cv([e["ts"] for e in window]), "ji": _jitter([e["ts"] for e in window]),
        "ch": sum(1 for a, b in zip(users, users[1:]) if a != b),
        "sa": sample, "ra": n / rate_span, "fs": fs,
    }


def _compare(rule, got: dict, want: dict, window) -> list[str]:
    bad = []
    for k, w in want.items():
        g = got.get(k)
        if k in FLOATING and w is not None and g is not None:
            ok = math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9)
        elif k == "sa" and rule == "slide":
            # Order after removals is the engine bug pinned by windows.toml
            # "sliding: sample follows window order ..."; check the contents only.
            distinct = {e.get("user") for e in window} - {None}
            ok = len(g) == min(3, len(distinct)) and set(g) <= distinct
        else:
            ok = g == w and type(g) is type(w)
        if not ok:
            bad.append(f"{rule}.{k}: engine {g!r}, naive {w!r}")
    return bad


def _windows_of(events):
    """Where-filtered events per key, in time order."""
    by_key: dict[str, list] = {}
    for e in events:
        if e["method"] != "HEAD":
            by_key.setdefault(e["src_ip"], []).append(e)
    return by_key


@PROPS
@given(rows=st.lists(_agg_row, min_size=1, max_size=80))
def test_incremental_aggregates_equal_naive_recomputation(rows):
    events = _agg_events(rows)
    by_id = {e["id"]: e for e in events}
    by_key = _windows_of(events)
    _, out = _run(AGG, events, 0)
    seen = Counter()
    problems = []
    for m in out:
        d = m.to_dict()
        key = d["key"]["src_ip"]
        prov = m.provenance
        ids = [e["id"] for e in prov["events"]]
        assert prov["omitted"] == 0 and prov["event_count"] == len(ids)
        got_window = [by_id[i] for i in ids]
        history = by_key[key]
        if m.rule == "slide":
            t = m.emitted_at
            want_window = [e for e in history if t - SLIDE < e["ts"] <= t]
            span = SLIDE
        elif m.rule == "tumble":
            k = int(got_window[0]["ts"] // TUMBLE)
            want_window = [e for e in history if int(e["ts"] // TUMBLE) == k]
            assert m.emitted_at == (k + 1) * TUMBLE
            span = TUMBLE
        else:
            sessions, cur = [], []
            for e in history:
                if cur and e["ts"] - cur[-1]["ts"] > GAP:
                    sessions.append(cur)
                    cur = []
                cur.append(e)
            sessions.append(cur)
            want_window = next(s for s in sessions if s[0]["id"] == ids[0])
            assert m.emitted_at == want_window[-1]["ts"] + GAP
            span = max(want_window[-1]["ts"] - want_window[0]["ts"], 1.0)
        assert [e["id"] for e in want_window] == ids, f"{m.rule}: provenance window differs"
        want = naive(want_window, history, span, FIRST_SEEN_H[m.rule])
        problems += _compare(m.rule, m.fields, want, want_window)
        seen[m.rule] += 1
    assert not problems, "\n".join(problems)
    # Every kept event is the newest of exactly one sliding window (cooldown 1ms, times strictly increase).
    assert seen["slide"] == sum(len(v) for v in by_key.values())
    assert seen["tumble"] == len({(k, int(e["ts"] // TUMBLE)) for k, v in by_key.items() for e in v})


# ---------------------------------------------------------------- feed vs feed_many

CAPPED = compile_rules(MIXED_PACK.replace("  by user\n  within 2m", "  by user\n  within 2m\n  limit keys 2")
                       .replace("  by src_ip\n  window 30s", "  by src_ip\n  window 30s\n  limit keys 2"))


def _disturbed(data, events):
    """The stream with some stragglers, bad lines, non-mappings and events without an id."""
    out = [dict(e) for e in events]
    for i in data.draw(st.lists(st.integers(0, max(0, len(out) - 1)), max_size=4), label="late"):
        if out:
            out[i]["ts"] -= data.draw(st.sampled_from([0.5, 3, 60]), label="back")
    for i in data.draw(st.lists(st.integers(0, len(out)), max_size=3), label="bad"):
        out.insert(i, data.draw(st.sampled_from([{"no": "time"}, [1, 2], {"ts": "yesterday"}]), label="what"))
    for i in data.draw(st.lists(st.integers(0, max(0, len(out) - 1)), max_size=6), label="no id"):
        if out and isinstance(out[i], dict):
            out[i] = {k: v for k, v in out[i].items() if k != "id"}
    return out


@PROPS
@given(data=st.data(), events=event_lists(max_size=70), lateness=st.sampled_from([0, 2, 5]),
       capped=st.booleans())
def test_feed_many_in_any_chunks_equals_feed_one_by_one(data, events, lateness, capped):
    """Same matches, same order, same quarantine, metrics, stats and snapshot bytes."""
    from sleuth.engine import Engine

    pack = CAPPED if capped else MIXED
    items = _disturbed(data, events)
    one = Engine(pack, lateness=lateness)
    a = [m for item in items for m in one.feed(item)]
    many = Engine(pack, lateness=lateness)
    b = []
    i = 0
    while i < len(items):
        n = data.draw(st.integers(1, 12), label="chunk")
        b += many.feed_many(items[i:i + n])
        i += n
    assert json_lines(b) == json_lines(a)
    assert many.stats() == one.stats()
    assert many.quarantine.records == one.quarantine.records
    assert many.snapshot() == one.snapshot()
    assert json_lines(many.close()) == json_lines(one.close())
