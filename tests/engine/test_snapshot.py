"""Snapshots: cut a run anywhere, restore, continue: nothing changes.

Every corpus stream is cut after every k-th item (k = 1, 2, 3, 5). Each
cut takes `snapshot()` and goes on with `Engine.restore(pack, blob)`. The
matches, the quarantine counts and the engine stats must equal those of an
uninterrupted run, byte for byte. The same holds for random streams and
random cut points (hypothesis), in order and reordered within the lateness.
A snapshot must also be refused with `SnapshotError`, and never half
restored, when it comes from another pack, another format version, or
corrupted bytes.
"""

from __future__ import annotations

import hashlib

import msgpack
import pytest
from corpus import compile_rules, json_lines, load_cases, prepare_items, run_items

from sleuth.dsl import PackError
from sleuth.engine import Engine, SnapshotError

KS = (1, 2, 3, 5)


def _compilable_cases():
    out = []
    for case_id, case in load_cases():
        try:
            compile_rules(case["rules"])
        except PackError:
            continue          # a case pinning a load-time bug has no stream to cut
        out.append(pytest.param(case, id=case_id))
    return out


def run_with_cuts(pack, items, options, every: int):
    """Feed items, replacing the engine by a restored snapshot after every `every`-th item."""
    eng = Engine(pack, **options)
    out = []
    for n, item in enumerate(items, 1):
        _, got = run_items(pack, [item], engine=eng, finish=False)
        out += [m for m, _ in got]
        if n % every == 0:
            blob = eng.snapshot()
            eng = Engine.restore(pack, blob)
            assert eng.snapshot() == blob, "snapshot(restore(blob)) differs from blob"
    out += eng.close()
    return eng, out


def _observable(eng, matches):
    stats = eng.stats()
    return json_lines(matches), dict(eng.quarantine.counts), stats


@pytest.mark.parametrize("case", _compilable_cases())
def test_case_stream_survives_snapshots(case):
    pack = compile_rules(case["rules"])
    items = prepare_items(case["events"])
    options = case.get("options", {})
    eng, out = run_items(pack, items, options)
    want = _observable(eng, [m for m, _ in out])
    for k in KS:
        got = _observable(*run_with_cuts(pack, items, options, k))
        assert got[0] == want[0], f"every {k}: matches differ"
        assert got[1] == want[1], f"every {k}: quarantine differs"
        assert got[2] == want[2], f"every {k}: stats differ"


def test_the_original_engine_is_untouched_by_snapshot():
    case = next(c for i, c in load_cases() if "trailing absence decided by close" in i)
    pack = compile_rules(case["rules"])
    items = prepare_items(case["events"])
    _, ref = run_items(pack, items, {})
    eng = Engine(pack)
    out = []
    for item in items:
        out += eng.feed(item)
        eng.snapshot()
    out += eng.close()
    assert json_lines(out) == json_lines(m for m, _ in ref)


# ---------------------------------------------------------------- refusals

RULE = '''
rule r {
  meta { ttp = "spec-anomaly"  goal = "scraping"  severity = low  title = "t" }
  by user
  within 1m
  sequence {
    a: route == "/a"
    b: route == "/b"
  }
}
'''
EVENTS = [{"id": f"y{i}", "ts": 100.0 + i, "user": "alice", "route": "/a" if i % 3 else "/b"}
          for i in range(12)]


@pytest.fixture(scope="module")
def pack():
    return compile_rules(RULE)


@pytest.fixture(scope="module")
def blob(pack):
    eng, _ = run_items(pack, EVENTS, {"lateness": 5}, finish=False)
    return eng.snapshot()


def _retyped(blob: bytes, edit) -> bytes:
    """Edit a snapshot's header or body and re-seal it with a valid checksum (a buggy writer, not noise)."""
    header, packed = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    body = msgpack.unpackb(packed, raw=False, strict_map_key=False)
    edit(header, body)
    packed = msgpack.packb(body, use_bin_type=True)
    if "checksum" in header:
        header["checksum"] = hashlib.blake2b(packed, digest_size=16).hexdigest()
    return msgpack.packb([header, packed], use_bin_type=True)


def test_restore_needs_the_same_pack(pack, blob):
    other = compile_rules(RULE.replace("within 1m", "within 2m"))
    with pytest.raises(SnapshotError, match="another rule pack"):
        Engine.restore(other, blob)
    # Even a change of layout only is another pack: the fingerprint covers the text.
    spaced = compile_rules(RULE.replace("  by user", "  by   user"))
    with pytest.raises(SnapshotError, match="another rule pack"):
        Engine.restore(spaced, blob)
    # The same text compiled again is the same pack.
    assert isinstance(Engine.restore(compile_rules(RULE), blob), Engine)


def test_restore_refuses_another_format_version(pack, blob):
    newer = _retyped(blob, lambda h, b: h.update(version=h["version"] + 1))
    with pytest.raises(SnapshotError, match="version"):
        Engine.restore(pack, newer)


def test_restore_refuses_another_magic(pack, blob):
    with pytest.raises(SnapshotError, match="magic"):
        Engine.restore(pack, _retyped(blob, lambda h, b: h.update(magic="pickle")))


@pytest.mark.parametrize("bad", [
    pytest.param(b"", id="empty"),
    pytest.param(b"not a snapshot", id="text"),
    pytest.param(b"\x93\x01\x02", id="short-msgpack-array"),
    pytest.param(msgpack.packb({"magic": "sleuth-snapshot"}), id="not-a-pair"),
    pytest.param(None, id="truncated"),
    pytest.param("garbage-prefix", id="garbage-prefix"),
])
def test_restore_refuses_corrupted_bytes(pack, blob, bad):
    if bad is None:
        bad = blob[: len(blob) // 2]
    elif bad == "garbage-prefix":
        bad = b"\xc1" + blob
    with pytest.raises(SnapshotError):
        Engine.restore(pack, bad)


TAMPER = [
    pytest.param(lambda h, b: b.pop("machines"), id="machines-missing"),
    pytest.param(lambda h, b: b.update(fifo="x"), id="buffer-not-a-list"),
    pytest.param(lambda h, b: b.pop("options"), id="options-missing"),
    pytest.param(lambda h, b: b["options"].update(latenesz=1), id="unknown-option"),
    pytest.param(lambda h, b: b["options"].update(lateness=-1), id="invalid-option"),
    pytest.param(lambda h, b: b.update(machines=[]), id="fewer-machines-than-rules"),
    pytest.param(lambda h, b: b.update(wm="soon"), id="watermark-not-a-number"),
]


@pytest.mark.parametrize("edit", TAMPER)
def test_restore_refuses_a_tampered_body(pack, blob, edit):
    with pytest.raises(SnapshotError):
        Engine.restore(pack, _retyped(blob, edit))


def test_a_refused_restore_leaves_nothing_behind(pack):
    """After a refusal, restoring the good blob continues exactly like the uninterrupted run."""
    eng, before = run_items(pack, EVENTS, {"lateness": 5}, finish=False)
    good = eng.snapshot()
    with pytest.raises(SnapshotError):
        Engine.restore(pack, good[:-3])
    rest = [{"id": "z1", "ts": 200.0, "user": "alice", "route": "/a"},
            {"id": "z2", "ts": 201.0, "user": "alice", "route": "/b"}]
    _, after = run_items(pack, rest, engine=Engine.restore(pack, good))
    _, ref = run_items(pack, EVENTS + rest, {"lateness": 5})
    assert after, "the continuation should produce matches"
    assert json_lines(m for m, _ in before + after) == json_lines(m for m, _ in ref)


def _flips(blob: bytes):
    for i in range(len(blob)):
        b = bytearray(blob)
        b[i] ^= 0xFF
        yield i, bytes(b)


def test_every_corruption_raises_only_snapshot_error(pack, blob):
    others = []
    for i, bad in _flips(blob):
        try:
            Engine.restore(pack, bad)
        except SnapshotError:
            pass
        except Exception as exc:  # noqa: BLE001 - the point is to catch every other kind
            others.append(f"byte {i}: {type(exc).__name__}: {exc}"[:120])
    assert not others, f"{len(others)} flips raised something else:\n" + "\n".join(others[:10])


def test_every_corruption_is_detected(pack, blob):
    silent = []
    for i, bad in _flips(blob):
        try:
            Engine.restore(pack, bad)
        except Exception:  # noqa: BLE001
            continue
        silent.append(i)
    assert not silent, f"{len(silent)} of {len(blob)} single-byte flips restored without error"


# ---------------------------------------------------------------- random streams

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from streams import MIXED_PACK, arrival, event_lists  # noqa: E402

MIXED = compile_rules(MIXED_PACK)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), events=event_lists(max_size=50), lateness=st.sampled_from([0, 5]),
       every=st.integers(1, 7))
def test_random_streams_survive_snapshots(data, events, lateness, every):
    jitter = data.draw(st.lists(st.floats(0, lateness), min_size=len(events), max_size=len(events)))
    items = arrival(events, jitter)
    eng, out = run_items(MIXED, items, {"lateness": lateness})
    want = _observable(eng, [m for m, _ in out])
    got = _observable(*run_with_cuts(MIXED, items, {"lateness": lateness}, every))
    assert got == want
