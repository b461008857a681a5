"""Snapshots: the engine's state as bytes, and back, with validation.

The format (read by `Engine.restore` and `Engine.import_key`, written by
`Engine.snapshot` and `Engine.export_key`): msgpack `[header, body]` where
the header holds a magic string, a format version, the pack's fingerprint
and the rule names; a whole-engine body is itself msgpack bytes with a
blake2b checksum in the header, so a corrupt blob is refused before
anything is built. Never pickle. Bodies are validated for every shape the
engine relies on later, so a bad blob raises `SnapshotError` at restore,
never mid-stream. Hostile values the engine accepted (ints past 64 bits,
lone surrogates, deep nesting) are stored as a safe copy.
"""

from __future__ import annotations

import hashlib

import msgpack

from .errors import SnapshotError
from .options import RECORDED
from .record import TIMER_KINDS
from .state import thaw_key

SNAPSHOT_MAGIC = "sleuth-snapshot"
KEY_MAGIC = SNAPSHOT_MAGIC + "-key"
SNAPSHOT_VERSION = 2     # 2: sliding windows hold folded slices; the header is sealed and lists the layout
#: The engine options a snapshot records and restores (`engine/options.py`).
OPTIONS = RECORDED


def encode(body: dict, pack) -> bytes:
    """A whole-engine snapshot of `body` (from `Engine`), tied to `pack`; raises `SnapshotError`."""
    try:
        packed = msgpack.packb(body, use_bin_type=True, strict_types=False, default=_pack_default)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        # Hostile values the engine accepted (ints past 64 bits, lone surrogates,
        # nesting deeper than msgpack allows, foreign objects): store a safe copy.
        try:
            packed = msgpack.packb(sanitize(body), use_bin_type=True, strict_types=False,
                                   default=_pack_default)
        except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as exc:
            raise SnapshotError(f"state cannot be serialised: {exc}") from exc
    header = {"magic": SNAPSHOT_MAGIC, "version": SNAPSHOT_VERSION, "pack": pack.fingerprint,
              "rules": [r.name for r in pack.rules], "layout": pack_layout(pack),
              "checksum": hashlib.blake2b(packed, digest_size=16).hexdigest()}
    header["seal"] = _seal(header)
    return msgpack.packb([header, packed], use_bin_type=True)


def pack_layout(pack) -> list:
    """What each rule's state looks like: [name, kind, window kind, aggregate kinds, key fields, steps].

    Recorded in a snapshot's header and compared at restore, so a snapshot
    is refused with the first rule whose state would not fit named, not
    loaded into the wrong machine.
    """
    return [[r.name, r.kind, r.window_kind or "", [a.kind for a in r.aggs], list(r.key_names), len(r.steps)]
            for r in pack.rules]


def _seal(header: dict) -> str:
    """A checksum of the header's own fields (the body has `checksum`): a flipped bit anywhere is seen."""
    fields = {k: header[k] for k in sorted(header) if k != "seal"}
    return hashlib.blake2b(msgpack.packb(fields, use_bin_type=True), digest_size=16).hexdigest()


def _describe_rule(item) -> str:
    name, kind, wkind, aggs, keys, steps = (list(item) + [None] * 6)[:6]
    what = kind if not wkind else f"{kind} {wkind}"
    if aggs:
        what += f": {', '.join(map(str, aggs))}"
    if steps:
        what += f": {steps} steps"
    return f"'{name}' ({what}; by {', '.join(map(str, keys or [])) or 'no key'})"


def _layout_difference(got, want: list) -> str | None:
    """The first difference between a snapshot's layout and the pack's, in words; None if equal."""
    if not isinstance(got, list):
        return "the snapshot does not list its rules' layout"
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"rule #{i + 1} is {_describe_rule(g) if isinstance(g, list) else repr(g)} in the snapshot, " \
                   f"{_describe_rule(w)} in this pack"
    if len(got) != len(want):
        return f"the snapshot has {len(got)} rules, this pack {len(want)}"
    return None


def decode(pack, blob: bytes) -> dict:
    """The validated body of a whole-engine snapshot taken with `pack`; raises `SnapshotError`.

    Refuses another magic, format version or pack, a checksum mismatch, and
    any body whose shapes the engine could not run from.
    """
    try:
        outer = msgpack.unpackb(blob, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:
        raise SnapshotError(f"not a sleuth snapshot (cannot decode: {type(exc).__name__})") from exc
    if not (isinstance(outer, list) and len(outer) == 2 and isinstance(outer[0], dict)
            and outer[0].get("magic") == SNAPSHOT_MAGIC):
        raise SnapshotError("not a sleuth snapshot (bad magic)")
    header, packed = outer
    if header.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(f"snapshot format version {header.get('version')} is not supported "
                            f"(this sleuth reads version {SNAPSHOT_VERSION})")
    try:
        sealed = header.get("seal") == _seal(header)
    except Exception:       # a header msgpack cannot write back: corrupt by definition
        sealed = False
    if not sealed:
        raise SnapshotError("corrupt snapshot: the header's seal does not match its fields")
    diff = _layout_difference(header.get("layout"), pack_layout(pack))
    if diff is not None:
        raise SnapshotError(f"snapshot was taken with another rule pack: {diff}; restore with the same rules")
    if header.get("rules") != [r.name for r in pack.rules]:
        raise SnapshotError("corrupt snapshot: the header's rule names disagree with its layout")
    if header.get("pack") != pack.fingerprint:
        raise SnapshotError(f"snapshot was taken with another rule pack (fingerprint {header.get('pack')}, "
                            f"this pack is {pack.fingerprint}); restore with the same rules")
    if header.get("rules") != [r.name for r in pack.rules]:
        raise SnapshotError("corrupt snapshot: the header's rule names disagree with this pack's")
    if not isinstance(packed, bytes) or \
            hashlib.blake2b(packed, digest_size=16).hexdigest() != header.get("checksum"):
        raise SnapshotError("corrupt snapshot: checksum mismatch")
    try:
        body = msgpack.unpackb(packed, raw=False, strict_map_key=False, use_list=True,
                               object_pairs_hook=_thaw_pairs)
        unknown = set(dict(body["options"])) - OPTIONS
        if unknown:
            raise SnapshotError(f"corrupt snapshot: unknown options {sorted(unknown)}")
        if len(body["machines"]) != len(pack.rules) or len(body["suppress"]) != len(pack.rules):
            raise SnapshotError("corrupt snapshot: rule state does not match the pack")
        for name in ("now", "max_ts", "wm"):
            if not isinstance(body[name], (int, float)):
                raise SnapshotError(f"corrupt snapshot: '{name}' is not a time")
        validate_body(body, len(pack.rules))
    except SnapshotError:
        raise
    except Exception as exc:
        raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from exc
    return body


def encode_key(parts: list, pack) -> bytes:
    """One key's state across rules (from `Engine.export_key`), tied to `pack`."""
    header = {"magic": KEY_MAGIC, "version": SNAPSHOT_VERSION, "pack": pack.fingerprint}
    return msgpack.packb([header, parts], use_bin_type=True, default=_pack_default)


def decode_key(pack, blob: bytes) -> list:
    """The parts of a key state written by `encode_key` for `pack`; raises `SnapshotError`.

    Checks the header and the timers' and window ends' shapes; the rule
    states themselves are validated by loading them on scratch machines.
    """
    try:
        header, parts = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except Exception as exc:
        raise SnapshotError(f"not a sleuth key state ({type(exc).__name__})") from exc
    if not isinstance(header, dict) or header.get("magic") != KEY_MAGIC:
        raise SnapshotError("not a sleuth key state (bad magic)")
    if header.get("version") != SNAPSHOT_VERSION or header.get("pack") != pack.fingerprint:
        raise SnapshotError("key state of another format version or rule pack")
    return parts


def valid_key_timer(t) -> bool:
    """Whether an exported timer (a list) has the shape a `Timer` needs."""
    return isinstance(t, list) and len(t) == 7 and isinstance(t[0], (int, float)) and t[4] in TIMER_KINDS


def validate_body(body: dict, nrules: int) -> None:
    """Shapes the engine relies on later: refuse now rather than fail mid-stream."""
    def bad(what):
        raise SnapshotError(f"corrupt snapshot: {what}")

    for name in ("fifo", "heap"):
        for item in body[name]:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], (int, float))
                    and isinstance(item[1], int) and isinstance(item[2], dict)):
                bad(f"a buffered event in '{name}' is malformed")
    for t in body["timers"]:
        if not (isinstance(t, list) and len(t) == 7 and isinstance(t[0], (int, float)) and t[1] in (0, 2)
                and isinstance(t[2], int) and isinstance(t[3], int) and 0 <= t[3] < nrules
                and t[4] in TIMER_KINDS):
            bad("a timer is malformed")
    for it in body["suspects"]:
        # [item, source, position] (older snapshots), or with the votes for and against it
        if not (isinstance(it, list) and len(it) in (3, 5) and isinstance(it[0], list) and len(it[0]) == 3
                and isinstance(it[0][0], (int, float)) and isinstance(it[0][2], dict)
                and all(type(n) is int for n in it[3:])):
            bad("a held far-future event is malformed")
    for k in ("seq", "tseq", "processed", "new_keys", "normal_since_suspect"):
        if not isinstance(body[k], int):
            bad(f"'{k}' is not a counter")
    if not isinstance(body["metrics"], dict) or not isinstance(body["matches_by_rule"], dict):
        bad("counters are malformed")


def _thaw_pairs(pairs) -> dict:
    """Map keys that were tuples (msgpack writes them as arrays) become tuples again."""
    return {(thaw_key(k) if type(k) is list else k): v for k, v in pairs}


_SANE_DEPTH = 64


def sanitize(obj, depth: int = 0):
    """A msgpack-safe copy: deep nesting cut, huge ints and foreign objects as text."""
    t = type(obj)
    if t is str:
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-8", "backslashreplace").decode("ascii")
    if t is int:
        return obj if -(2 ** 63) <= obj < 2 ** 64 else str(obj)
    if t is float or t is bool or obj is None or t is bytes:
        return obj
    if depth >= _SANE_DEPTH:
        return "<nested too deep>"
    if t is list or t is tuple:
        return [sanitize(x, depth + 1) for x in obj]
    if t is dict:
        out = {}
        for k, v in obj.items():
            if type(k) not in (str, int):
                k = repr(k)[:200]
            out[sanitize(k, depth + 1)] = sanitize(v, depth + 1)
        return out
    if t in (set, frozenset):
        return [sanitize(x, depth + 1) for x in sorted(obj, key=repr)]
    return repr(obj)[:200]


def _pack_default(obj):
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")
