"""The keyed data flow of `sleuth flink run`, in one process: same matches and quarantine as one engine.

`LocalPipeline` runs exactly what each Flink operator runs (chunked
reading, time order, one keyed stage per key expression with each key's
state as bytes, rules over rules in a later stage), with the watermark
moving every event or lagging behind as Flink's periodic watermark does.
"""

from __future__ import annotations

import io
from collections import Counter

import orjson
import pytest

from sleuth.dsl import load_pack
from sleuth.engine import Engine, Quarantine
from sleuth.engine.ingest.source import open_source
from sleuth.playground.flink.core import (
    Lines,
    chunk_records,
    make_normalizer,
    plan_chunks,
    plan_stages,
    reached,
    run_local,
    timer_ms,
    to_ms,
)
from sleuth.playground.simulate import SimConfig, generate, write


@pytest.fixture(scope="module")
def pack():
    return load_pack()


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    write(generate(SimConfig(hours=0.2, scale=0.05, seed=5, disorder=3.0,
                             attacks=("account-takeover", "l3-reputation", "session-rotation",
                                      "credential-stuffing"))), out)
    path = out / "events.jsonl"
    # Hostile lines the ingest must quarantine as `sleuth run` does: bad JSON, a late event, no time.
    lines = path.read_bytes().splitlines(keepends=True)
    first = orjson.loads(lines[0])
    lines.insert(500, b"{not json\n")
    lines.insert(900, orjson.dumps({**first, "id": "too-late"}) + b"\n")
    lines.insert(1200, b'{"path": "/x"}\n')
    path.write_bytes(b"".join(lines))
    return str(path)


def _reference(pack, path):
    sink = Lines()
    eng = Engine(pack, normalizer=make_normalizer(), quarantine=Quarantine(sink))
    batch, positions, matches = [], [], []
    for pos, item in open_source(path, name=path):
        if type(item).__name__ == "Bad":
            eng.quarantine.add(path, pos, item.reason, item.detail, item.excerpt)
        else:
            batch.append(item)
            positions.append(pos)
    matches = eng.feed_many(batch, path, positions) + eng.close()
    return [m.to_json() for m in matches], sink.items


@pytest.mark.parametrize("watermark_every", [7, 97])
def test_keyed_pipeline_equals_one_engine(pack, sim_file, watermark_every):
    expected, expected_q = _reference(pack, sim_file)
    assert len(expected) > 20
    pipe = run_local(pack, chunk_records(plan_chunks([(sim_file, sim_file)], chunk_bytes=200_000)),
                     watermark_every=watermark_every)
    got = [m.to_json() for m in pipe.matches]
    assert Counter(got) == Counter(expected)
    assert sorted(pipe.quarantine.sink.items) == sorted(expected_q)
    assert {orjson.loads(q)["reason"] for q in expected_q} >= {"not-json", "late"}
    # Rules reading share()/spread() fired, as one engine fires them: the statistics are the
    # whole stream's (the ingest's), not the partition a stage sees.
    readers = {r.name for r in pack.rules if r.queries}
    assert readers & {orjson.loads(m)["rule"] for m in expected}


def test_population_answers_come_from_the_whole_stream_and_survive_a_savepoint(pack, sim_file):
    """The ingest's sketches see every event; dumped and loaded mid-stream they answer as uninterrupted."""
    import pickle

    from sleuth.playground.flink.core import ANSWERS, Ingest

    records = list(chunk_records(plan_chunks([(sim_file, sim_file)], chunk_bytes=1 << 30)))

    def ingest():
        norm = make_normalizer()
        norm.want(pack.fields)
        return Ingest(norm, Quarantine(Lines()), pack=pack)

    def answers(released):
        return [(seq, ev[ANSWERS]) for seq, ev in released]

    whole = ingest()
    straight = []
    for src, pos, item in records:
        straight += answers(whole.push(src, pos, item))
    straight += answers(whole.finish())
    assert straight and any(v for _, a in straight for v in a.values())
    cut = len(records) // 2
    first, resumed = ingest(), []
    for src, pos, item in records[:cut]:
        resumed += answers(first.push(src, pos, item))
    second = ingest()
    second.load(pickle.loads(pickle.dumps(first.dump())))
    for src, pos, item in records[cut:]:
        resumed += answers(second.push(src, pos, item))
    resumed += answers(second.finish())
    assert resumed == straight


@pytest.mark.parametrize("chunk_bytes", [1, 777, 50_000, 1 << 30])
def test_chunks_read_as_one_reader(sim_file, chunk_bytes):
    whole = [(sim_file, pos, item) for pos, item in open_source(sim_file, name=sim_file)]
    chunks = plan_chunks([(sim_file, sim_file)], chunk_bytes=chunk_bytes)
    assert list(chunk_records(chunks)) == whole
    assert [c.first_line for c in chunks][0] == 1


def test_chunks_of_files_without_a_last_newline_and_gzip(tmp_path):
    import gzip

    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"ts": 1, "id": "a"}\n\n{"ts": 2, "id": "b"}\n{bad\n{"ts": 3, "id": "c"}')
    g = tmp_path / "b.jsonl.gz"
    g.write_bytes(gzip.compress(p.read_bytes()))
    for path in (p, g):
        whole = [(str(path), pos, item) for pos, item in open_source(str(path), name=str(path))]
        got = list(chunk_records(plan_chunks([(str(path), str(path))], chunk_bytes=5)))
        assert [(s, pos, type(i).__name__) for s, pos, i in got] == \
            [(s, pos, type(i).__name__) for s, pos, i in whole]
    assert len(plan_chunks([(str(g), str(g))], chunk_bytes=5)) == 1


def test_stages_follow_the_partition_plan(pack):
    stages = plan_stages(pack)
    plan = pack.partition_plan()
    events = {tuple(g["key"]): [r for r in g["rules"] if pack.rule(r).source == "events"] for g in plan}
    assert {s.key_names: list(s.rules) for s in stages if s.level == 0} == {k: v for k, v in events.items() if v}
    assert [(s.level, s.key_names, s.rules) for s in stages if s.level > 0] == [
        (1, ("asn",), ("campaign_network_chain",)), (1, ("src_ip", "client"), ("automation_regular_bursts",)),
        (1, ("user",), ("ato_takeover_monetised",)),
        (2, ("asn",), ("campaign_kill_chain",))]


def test_rules_over_rules_in_their_own_stage():
    src = '''
rule a {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "a" }
  when route == "/a"
  by user
  emit { net = asn }
}
rule b {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = low title = "b" }
  by src_ip
  window 1m
  having count() >= 2
  emit { net = asn }
}
rule chain {
  meta { ttp = "campaign" goal = "fraud" severity = high title = "chain" }
  from matches
  by net within 10m
  sequence {
    x: rule == "a"
    y: rule == "b"
  }
}
'''
    pack = load_pack(sources={"c.ttp": src})
    lines = []
    for i in range(300):
        lines.append(orjson.dumps({"id": f"e{i}", "ts": 1000 + i * 7.5, "user": f"u{i % 5}", "asn": i % 3,
                                   "src_ip": f"10.0.0.{i % 4}", "route": "/a" if i % 3 else "/b"}))
    data = b"\n".join(lines) + b"\n"
    eng = Engine(pack, normalizer=make_normalizer())
    expected = [m.to_json() for m in eng.feed_many([orjson.loads(x) for x in lines], "mem") + eng.close()]
    assert any(b'"rule":"chain"' in m for m in expected)
    records = [("mem", pos, item) for pos, item in open_source(io.BytesIO(data), "jsonl", name="mem")]
    for every in (1, 13):
        pipe = run_local(pack, records, watermark_every=every)
        assert Counter(m.to_json() for m in pipe.matches) == Counter(expected)


@pytest.mark.parametrize("t", [1764230400.207 + 30, 0.0015, 12.9999999, 1e9 + 0.0009999])
def test_timer_milliseconds_are_due_and_never_early(t):
    ms = timer_ms(t)
    assert reached(ms) > t
    assert reached(ms - 1) <= t
    assert to_ms(t) <= ms <= to_ms(t) + 1


_META = 'meta { ttp = "account-takeover" goal = "account-takeover" severity = low title = "t" }'


def test_unbounded_sequence_join_and_filter_run_keyed():
    # No `within`: the key has no idle timer and its state waits in the keyed store.
    src = f'''
rule seq {{
  {_META}
  by user
  sequence {{
    a: route == "/a"
    b: route == "/b"
  }}
  | filter a.src_ip != b.src_ip
}}
rule both {{
  {_META}
  by user
  join {{
    x: route == "/a"
    y: route == "/c"
  }}
  until route == "/logout"
}}
'''
    pack = load_pack(sources={"u.ttp": src})
    lines = []
    for i in range(240):
        # Years between a key's first and later events: only an unbounded rule completes.
        ts = 1000 + i * 3.0 + (86400 * 800 if i >= 120 else 0)
        route = ("/a", "/b", "/c", "/logout")[(i // 7) % 4] if i >= 120 else "/a"
        lines.append(orjson.dumps({"id": f"e{i}", "ts": ts, "user": f"u{i % 6}", "src_ip": f"10.0.0.{i % 4}",
                                   "route": route}))
    data = b"\n".join(lines) + b"\n"
    eng = Engine(pack, normalizer=make_normalizer())
    expected = [m.to_json() for m in eng.feed_many([orjson.loads(x) for x in lines], "mem") + eng.close()]
    assert any(b'"rule":"seq"' in m for m in expected) and any(b'"rule":"both"' in m for m in expected)
    records = [("mem", pos, item) for pos, item in open_source(io.BytesIO(data), "jsonl", name="mem")]
    for every in (1, 11):
        pipe = run_local(pack, records, watermark_every=every)
        assert Counter(m.to_json() for m in pipe.matches) == Counter(expected)


@pytest.mark.parametrize(("body", "message"), [
    ('by user\n  sequence { a: route == "/a"  b: route == "/b" }\n  | head 5', "'| head' pipe"),
    ('by user\n  sequence { a: route == "/a"  b: route == "/b" }\n  | unique b.path', "'| unique' pipe"),
    ('within 1h\n  join { a: route == "/a" by user  b: route == "/b" by session }', "per-step by"),
], ids=["head", "unique", "join-per-step"])
def test_keyed_runner_refuses_what_spans_keys(body, message):
    from sleuth.playground.flink.core import Unsupported

    pack = load_pack(sources={"r.ttp": f"rule r {{\n  {_META}\n  {body}\n}}\n"})
    with pytest.raises(Unsupported, match=message.replace("|", r"\|")):
        plan_stages(pack)
def test_ingest_far_future_guard_is_the_engines():
    """The pipeline's ingest holds, confirms and refutes far-future events as the engine does: a sorted
    log with gaps of days loses nothing, and seeded random streams (jumps of days, late events) give
    the same events in the same order and the same quarantine counts."""
    import random

    from sleuth.engine.ingest import Normalizer
    from sleuth.playground.flink.core import Ingest

    every = load_pack(sources={"r.ttp": 'rule every { meta { ttp = "scraping" goal = "scraping" severity = low '
                                        'title = "t" } when exists(id) }\n'})
    t0 = 1_714_564_800

    def both(events):
        q = Quarantine(keep=1000)
        ing = Ingest(Normalizer(), q)
        got = []
        for i, e in enumerate(events):
            got += ing.push("s", i + 1, e)
        got += ing.finish()
        q2 = Quarantine(keep=1000)
        eng = Engine(every, quarantine=q2)
        ms = [m for e in events for m in eng.feed(e)] + eng.close()
        return ([ev["id"] for _seq, ev in got], q.counts), ([m.to_dict()["provenance"]["events"][0]["id"] for m in ms],
                                                            q2.counts)

    days = [0, 60, 3 * 86400, 7 * 86400, 7 * 86400 + 5, 9 * 86400, 30 * 86400, 30 * 86400 + 1, 45 * 86400]
    mine, engine = both([{"ts": t0 + d, "id": f"g{k}"} for k, d in enumerate(days)])
    assert mine == engine == ([f"g{k}" for k in range(len(days))], {})
    rnd = random.Random(1)
    for _ in range(200):
        events = []
        for k in range(rnd.randrange(1, 40)):
            r = rnd.random()
            t = (t0 + rnd.randrange(200) if r < 0.7 else
                 t0 + rnd.randrange(2, 400) * 86400 if r < 0.9 else t0 - rnd.randrange(100))
            events.append({"ts": t, "id": f"e{k}"})
        mine, engine = both(events)
        assert mine == engine, [e["ts"] - t0 for e in events]
