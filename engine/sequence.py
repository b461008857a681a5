"""Sequence machines: ordered steps per key, with per-step provenance.

The automaton of a sequence rule has one state per (step, repeat count):
step j with `repeat >= m` contributes states (j,1)..(j,m), the last of
which absorbs further events up to the repeat maximum. Per key and state
only the newest `partials` partial matches are kept (default 1: EQL's
"newest wins"). An event is tried against the steps last to first, so it
moves each partial at most one step and never fills two steps of one match;
a completed match consumes only its own partial.

A partial is a tuple `(start, last, count, chain, binds)`: `chain` is a
persistent linked list of `(step, record, previous, step_count)` nodes, so
advancing is O(1) with no copying; provenance keeps the first `events - 1`
events of each step plus its latest. Expiry is lazy (a partial older than
`within` is dropped when touched) plus idle-key collection in `state.py`;
trailing absences are engine timers. Nothing scans all partials per event.
A key gets state only when an event can start a partial (the first step, or
an aggregate step's window): an event that matches only a later step of a
key without partials creates nothing (measured: 1M one-event keys of a later
step made 900k evictions before, none now). A sequence without `within` is
unbounded in time, bounded by `limit keys`; partials lost to key eviction
are counted (`partials_evicted`). `join` rules are `JoinMachine`.
"""

from __future__ import annotations

from .duration import format_seconds
from .match import Match, event_record, stable_hash
from .record import AFTER
from .state import NEG_INF, Machine, thaw_key
from .window import SlidingWindow

_START, _LAST, _CNT, _CHAIN, _BINDS = range(5)


class SeqState:
    """A key's partials per state, last activity, trailing-absence waits and aggregate-step windows."""
    __slots__ = ("slots", "last", "waits", "wins")

    def __init__(self, nstates: int):
        self.slots: list = [None] * nstates
        self.last = NEG_INF
        self.waits: list | None = None      # [(deadline, token, partial, fields, fp, last_ev_rec)]
        self.wins: dict | None = None       # aggregate steps: step index -> SlidingWindow


class SequenceMachine(Machine):
    """One sequence rule's keyed automaton."""

    kind = "sequence"

    def __init__(self, engine, spec):
        super().__init__(engine, spec)
        steps = spec.steps
        self.n = len(steps)
        self.offsets = []
        off = 0
        for s in steps:
            self.offsets.append(off)
            off += s.min
        self.nstates = off
        self.final = off - 1
        self.within = spec.within if spec.within is not None else float("inf")
        self.plimit = spec.limit("partials")
        self.ecap = spec.limit("events")
        self.trailing = next((a for a in spec.absences if a.end is None), None)
        self.between = [a for a in spec.absences if a.end is not None]
        self.per_step_keys = any(s.key is not None for s in steps)
        self.step_mask = (1 << self.n) - 1
        self.token = 0
        # Per step: is it a plain step (no repeat, no aggregate window)? Where does it advance from?
        self.simple = [s.min == 1 and s.max == 1 and s.window is None for s in steps]
        self.prev_sid = [None] + [self.offsets[j - 1] + steps[j - 1].min - 1 for j in range(1, self.n)]
        self.abits_shift = self.n + (1 if spec.has_until else 0)
        # Step bits that may create a key's state: the first step, and aggregate steps
        # (their window counts events before any partial reaches them).
        self.starts = 1 | sum(1 << j for j, s in enumerate(steps) if s.window is not None)
        if self.eager_state:
            self.starts = self.step_mask
        self.fork = [s.fork for s in steps]
        self.partials_evicted = 0         # live partials dropped with their evicted key
        self.pipes = spec.pipe_values
        self.done = False                 # a match or an until emptied slots: drop the key if empty

    # Benchmark baseline only: create a key's state for any step's event (the behaviour
    # before state was limited to events that can start a partial).
    eager_state = False

    def extra_horizon(self) -> float:
        return 0.0

    def key_dict(self, key) -> dict:
        """Key values by field name; with per-step keys, the first step's key fields name them."""
        if not self.per_step_keys:
            return super().key_dict(key)
        names = self.spec.steps[0].key_names
        if len(names) == 1:
            return {names[0]: key}
        return dict(zip(names, key)) if isinstance(key, tuple) else {"key": key}

    def pinned(self, st) -> bool:
        return bool(st.waits)

    def forget(self, key, st) -> None:
        """A key leaves: count its partials that could still have completed (lost to eviction)."""
        now = self.engine.now
        if now - st.last > self.horizon:
            return                      # idle past its horizon: nothing live to lose
        within = self.within
        live = sum(1 for lst in st.slots if lst for p in lst if now - p[_START] <= within)
        live += len(st.waits) if st.waits else 0
        self.partials_evicted += live

    def degraded(self, first_ts: float) -> list[str]:
        if self.within == float("inf"):
            # Unbounded: any eviction since the match's first event may have cost a match.
            return ["evicted"] if self.last_eviction >= first_ts else []
        return super().degraded(first_ts)

    # -- event entry (called by dispatch with the bits of the conditions that held)
    def on_event(self, ev, bits: int) -> None:
        spec = self.spec
        n = self.n
        sbits = bits & self.step_mask
        if bits == sbits and not self.per_step_keys:
            # Fast path: steps only, one key; a single plain step inline.
            keyf = spec.key
            key = keyf(ev) if keyf is not None else ()
            if key is None:
                return
            if sbits & (sbits - 1) or not self.simple[sbits.bit_length() - 1]:
                self._process(key, sbits, 0, 0, ev)
                return
            now = self.engine.now
            states = self.states
            st = states.get(key)
            if st is None:
                if not sbits & self.starts:
                    return          # nothing is waiting for a later step at a new key
                st = SeqState(self.nstates)
                self.new_key(key, st)
            else:
                if now - st.last > self.horizon and not st.waits:
                    st.slots = [None] * self.nstates
                    st.wins = None
                states.move_to_end(key)
            st.last = now
            self._simple_step(st, key, sbits.bit_length() - 1, ev, now)
            if self.done:
                self._drop_if_empty(key, st)
            return
        if bits == sbits:
            until = abits = 0
        else:
            until = (bits >> n) & 1 if spec.has_until else 0
            abits = bits >> self.abits_shift
            if until and spec.until_key is not None:
                # `until ... by k`: the until resets the partials at its own key (EQL), first.
                uk = spec.until_key(ev)
                ust = self.states.get(uk) if uk is not None else None
                if ust is not None:
                    self._until(ust)
                    self._drop_if_empty(uk, ust)
                until = 0
        if not self.per_step_keys:
            key = spec.key(ev) if spec.key is not None else ()
            if key is None:
                return
            self._process(key, sbits, until, abits, ev)
            return
        groups: dict = {}
        steps = spec.steps
        for j in range(n):
            kf = steps[j].key or spec.key
            k = kf(ev) if kf is not None else ()
            if k is None:
                continue
            if (sbits >> j) & 1:
                groups[k] = groups.get(k, 0) | (1 << j)
            elif (until or abits) and k not in groups:
                groups[k] = 0
        for k in sorted(groups, key=repr) if len(groups) > 1 else groups:
            self._process(k, groups[k], until, abits, ev)

    def _process(self, key, sbits: int, until: int, abits: int, ev) -> None:
        now = self.engine.now
        states = self.states
        st = states.get(key)
        if st is None:
            if not sbits & self.starts:
                return
            st = SeqState(self.nstates)
            self.new_key(key, st)
        else:
            if now - st.last > self.horizon and not st.waits:
                st.slots = [None] * self.nstates   # idle past the horizon: a new key
                st.wins = None
            if until:
                self._until(st)
            if abits:
                self._absences(st, abits, ev, now)
            if not sbits:
                if self.done:
                    self._drop_if_empty(key, st)
                return
            states.move_to_end(key)
        st.last = now
        if not sbits & (sbits - 1):
            j = sbits.bit_length() - 1
            if self.simple[j]:
                self._simple_step(st, key, j, ev, now)
            else:
                self._step(st, key, j, ev, now)
        else:
            j = self.n - 1
            simple = self.simple
            while sbits:
                if (sbits >> j) & 1:
                    sbits &= ~(1 << j)
                    if simple[j]:
                        self._simple_step(st, key, j, ev, now)
                    else:
                        self._step(st, key, j, ev, now)
                j -= 1
        if self.done:
            self._drop_if_empty(key, st)

    def _drop_if_empty(self, key, st: SeqState) -> None:
        """After a match or an until: a key left with no partial, wait or window holds nothing to keep."""
        self.done = False
        if st.waits or st.wins or any(st.slots):
            return
        if self.states.pop(key, None) is not None:
            self.engine.note_new_key(self, -1)

    def _simple_step(self, st: SeqState, key, j: int, ev, now: float) -> None:
        """A step without repeat or window: start a partial, or advance one from the previous step."""
        s = self.spec.steps[j]
        slots = st.slots
        if j == 0:
            binds = None
            if s.bind is not None:
                binds = (s.bind(ev),) + (None,) * (self.n - 1)
            p = (now, now, 1, (0, (ev.get("id"), now, s.record(ev)), None, 1), binds)
            if self.final == 0:
                self._complete(st, key, p, ev)
            elif self.plimit == 1:
                slots[0] = [p]
            else:
                self._place(st, key, 0, p, ev)
            return
        prev_sid = self.prev_sid[j]
        lst = slots[prev_sid]
        if not lst:
            return
        within = self.within
        gap = s.gap
        join = s.join
        fork = self.fork[j]
        if len(lst) == 1 and gap is None and join is None and s.bind is None:
            # The common case: one pending partial, nothing to check but `within`.
            start, last, cnt, chain, binds = lst[0]
            if now - start > within:
                slots[prev_sid] = None
                return
            if not fork:
                slots[prev_sid] = None
            q = (start, now, 1, (j, (ev.get("id"), now, s.record(ev)), chain, 1), binds)
            base = self.offsets[j]
            if base == self.final:
                self._complete(st, key, q, ev)
            elif self.plimit == 1 or not slots[base]:
                slots[base] = [q]
            else:
                self._place(st, key, base, q, ev)
            return
        rec = None
        remain = None
        moved = None
        for p in lst:
            start, last, cnt, chain, binds = p
            if now - start > within:
                continue
            ok = (gap is None or now - last <= gap) and (join is None or join(ev, binds))
            if not ok or fork:
                # Kept: it cannot advance on this event, or `fork` leaves it in place.
                if remain is None:
                    remain = [p]
                else:
                    remain.append(p)
                if not ok:
                    continue
            if rec is None:
                rec = (ev.get("id"), now, s.record(ev))
            if s.bind is not None:
                b = list(binds) if binds is not None else [None] * self.n
                b[j] = s.bind(ev)
                binds = tuple(b)
            q = (start, now, 1, (j, rec, chain, 1), binds)
            if moved is None:
                moved = [q]
            else:
                moved.append(q)
        slots[prev_sid] = remain
        if moved:
            base = self.offsets[j]
            for q in moved:
                self._place(st, key, base, q, ev)

    def _until(self, st: SeqState) -> None:
        self.done = True
        st.slots = [None] * self.nstates
        if st.waits:
            st.waits = None
        st.wins = None
        self.engine.metrics["until_resets"] += 1

    def _absences(self, st: SeqState, abits: int, ev, now: float) -> None:
        absences = self.spec.absences
        for ai, a in enumerate(absences):
            if not (abits >> ai) & 1:
                continue
            if a.end is None:
                if st.waits:
                    keep = []
                    for w in st.waits:
                        deadline, _token, p = w[0], w[1], w[2]
                        if now <= deadline and (a.join is None or a.join(ev, p[_BINDS])):
                            continue     # the awaited event came: no match
                        keep.append(w)
                    st.waits = keep or None
                continue
            lo, hi = self.offsets[a.start], self.offsets[a.end]
            slots = st.slots
            for sid in range(lo, hi):
                lst = slots[sid]
                if not lst:
                    continue
                if a.join is None:
                    slots[sid] = None
                else:
                    kept = [p for p in lst if not a.join(ev, p[_BINDS])]
                    slots[sid] = kept or None

    def _record(self, j: int, ev):
        s = self.spec.steps[j]
        return (ev.get("id"), self.engine.now, s.record(ev))

    def _place(self, st: SeqState, key, sid: int, p: tuple, ev) -> None:
        if sid == self.final:
            self._complete(st, key, p, ev)
            return
        lst = st.slots[sid]
        if lst is None:
            st.slots[sid] = [p]
        else:
            lst.append(p)
            if len(lst) > self.plimit:
                del lst[0]

    def _step(self, st: SeqState, key, j: int, ev, now: float) -> None:
        spec = self.spec
        s = spec.steps[j]
        within = self.within
        slots = st.slots
        rec = None
        if s.window is not None:
            hit = self._window_step(st, j, ev, now)
            if hit is None:
                return
            rec = hit
        smin, smax = s.min, s.max
        base = self.offsets[j]
        cap = self.ecap
        # 1. absorb into this step's own repeat states (highest count first).
        if smin > 1 or smax != 1:
            for c in range(smin, 0, -1):
                sid = base + c - 1
                lst = slots[sid]
                if not lst:
                    continue
                slots[sid] = None
                stay = []
                for p in lst:
                    start, last, cnt, chain, binds = p
                    if now - start > within:
                        continue
                    if rec is None:
                        rec = self._record(j, ev)
                    if c < smin or smax is None or cnt < smax:
                        if cnt < cap:
                            node = (j, rec, chain, cnt + 1)
                        else:
                            node = (j, rec, chain[2], cnt + 1)   # keep the first cap-1 and the newest
                        if c < smin:
                            q = (start, now, cnt + 1, node, binds)
                            nxt = sid + 1
                            absorbing = c + 1 == smin and (smax is None or smax > smin) and nxt != self.final
                            if absorbing and slots[nxt] and len(slots[nxt]) >= self.plimit:
                                # A live run already absorbs here: it started earlier and holds
                                # every event of the newcomer, which is dropped.
                                continue
                            self._place(st, key, nxt, q, ev)
                        else:
                            stay.append((start, now, cnt + 1, node, binds))
                    else:
                        stay.append(p)
                if stay:
                    if len(stay) > self.plimit:
                        del stay[: len(stay) - self.plimit]
                    slots[sid] = stay
        # 2. advance from the previous step's satisfied state, or start.
        if j == 0:
            if rec is None:
                rec = self._record(0, ev)
            binds = None
            if s.bind is not None:
                binds = (s.bind(ev),) + (None,) * (self.n - 1)
            self._place(st, key, base, (now, now, 1, (0, rec, None, 1), binds), ev)
            return
        prev_sid = self.offsets[j - 1] + spec.steps[j - 1].min - 1
        lst = slots[prev_sid]
        if not lst:
            return
        gap = s.gap
        join = s.join
        remain = []
        moved = []
        fork = s.fork
        for p in lst:
            start, last, cnt, chain, binds = p
            if now - start > within:
                continue
            if (gap is not None and now - last > gap) or (join is not None and not join(ev, binds)):
                remain.append(p)
                continue
            if fork:
                remain.append(p)        # fork: the partial stays and can advance again
            if rec is None:
                rec = self._record(j, ev)
            if s.bind is not None:
                b = list(binds) if binds is not None else [None] * self.n
                b[j] = s.bind(ev)
                binds = tuple(b)
            moved.append((start, now, 1, (j, rec, chain, 1), binds))
        slots[prev_sid] = remain or None
        for p in moved:
            self._place(st, key, base, p, ev)

    def _window_step(self, st: SeqState, j: int, ev, now: float):
        """An aggregate step: feed its window; a hit when its condition holds."""
        s = self.spec.steps[j]
        wins = st.wins
        if wins is None:
            wins = st.wins = {}
        win = wins.get(j)
        if win is None:
            win = wins[j] = SlidingWindow(s.aggs, self.spec.limits, s.window)
        win.add(now, ev.get("id"), s.extract(ev), s.record(ev))
        if not s.having(win, ev):
            return None
        values = win.values(exact=True)
        prov = win.provenance(s.aggs, values, s.fields, self.ecap)
        return (ev.get("id"), now, s.record(ev), prov)

    def _complete(self, st: SeqState, key, p: tuple, ev) -> None:
        spec = self.spec
        eng = self.engine
        self.done = True
        binds = p[_BINDS]
        fields = spec.emit(ev, None, binds) if spec.emit is not None else {}
        fp = spec.fingerprint(ev, None, binds) if spec.fingerprint is not None else None
        pv = self.pipes(ev, binds) if self.pipes is not None else None
        if self.trailing is not None:
            a = self.trailing
            deadline = eng.now + a.within
            self.token += 1
            skey = eng.suppress_key_of(spec, ev)
            wait = (deadline, self.token, p, fields, fp, skey, pv)
            if st.waits is None:
                st.waits = [wait]
            else:
                st.waits.append(wait)
            eng.schedule(deadline, AFTER, self.spec.index, "absence", key, self.token)
            return
        eng.emit(spec, self._match(key, p, fields, fp, eng.now, None), ev, pipe_values=pv)

    def on_timer(self, kind: str, key, token) -> None:
        st = self.states.get(key)
        if st is None or not st.waits:
            return
        for i, w in enumerate(st.waits):
            if w[1] == token:
                del st.waits[i]
                if not st.waits:
                    st.waits = None
                _deadline, _t, p, fields, fp = w[:5]
                skey = w[5] if len(w) > 5 else None
                pv = w[6] if len(w) > 6 else None
                self.engine.emit(self.spec, self._match(key, p, fields, fp, self.engine.now, self.trailing),
                                 skey=skey, pipe_values=pv)
                self._drop_if_empty(key, st)
                return

    def _match(self, key, p: tuple, fields: dict, fp, emitted_at: float, trailing) -> Match:
        spec = self.spec
        start, last, cnt, chain, binds = p
        per_step: dict[int, list] = {}
        counts: dict[int, int] = {}
        node = chain
        while node is not None:
            j, rec, prev, n = node
            per_step.setdefault(j, []).append(rec)
            if j not in counts:
                counts[j] = n
            node = prev
        steps_out = []
        ids = []
        for s in spec.steps:
            recs = list(reversed(per_step.get(s.index, [])))
            events = []
            window_prov = None
            for rec in recs:
                events.append(event_record(rec[:3], s.fields))
                ids.append(rec[0])
                if len(rec) > 3:
                    window_prov = rec[3]
            entry = {"step": s.name, "count": counts.get(s.index, len(recs)), "events": events,
                     "omitted": max(0, counts.get(s.index, len(recs)) - len(recs))}
            if window_prov is not None:
                entry["window"] = window_prov
            steps_out.append(entry)
        prov = {"kind": "sequence", "within": format_seconds(spec.within), "steps": steps_out}
        if spec.absences:
            prov["absences"] = [
                {"name": a.name, **({"between": [spec.steps[a.start].name, spec.steps[a.end].name]}
                                    if a.end is not None else
                                    {"after": spec.steps[a.start].name, "within": format_seconds(a.within),
                                     "checked_until": None}),
                 "seen": False}
                for a in spec.absences]
        if trailing is not None:
            from .match import format_ts

            for entry in prov["absences"]:
                if entry["name"] == trailing.name:
                    entry["checked_until"] = format_ts(emitted_at)
            prov["decided_at_watermark"] = format_ts(emitted_at)
        key_d = self.key_dict(key)
        if fp is None:
            fp_parts = (spec.name, sorted(key_d.items()))
        else:
            fp_parts = (spec.name, fp)
        first_id = ids[0] if ids else ""
        last_id = ids[-1] if ids else ""
        match_id = stable_hash(spec.name, key_d, first_id, last_id, emitted_at)
        return Match(spec.name, spec.ttp, spec.goal, spec.severity, spec.title, key_d, start, last,
                     emitted_at, fields, prov, stable_hash(*fp_parts), match_id, self.degraded(start))

    # -- introspection
    def describe(self, key, st: SeqState) -> dict | None:
        """The key's most advanced live partial, for near-miss reports."""
        spec = self.spec
        now = self.engine.now
        best = None
        for sid in range(self.nstates - 1, -1, -1):
            lst = st.slots[sid]
            if not lst:
                continue
            p = lst[-1]
            if now - p[_START] > self.within:
                continue
            j = max(i for i, off in enumerate(self.offsets) if off <= sid)
            best = (sid, j, p)
            break
        if best is None and not st.waits:
            return None
        key_d = self.key_dict(key)
        if best is None:
            w = st.waits[0]
            return {"rule": spec.name, "kind": "sequence", "key": key_d, "step": len(spec.steps),
                    "step_name": spec.steps[-1].name, "progress": 0.99,
                    "waiting_until": w[0], "text": "all steps done; waiting for the absence deadline"}
        sid, j, p = best
        s = spec.steps[j]
        cnt = p[_CNT]
        total = self.nstates
        progress = (sid + 1) / (total + 1)
        left = self.within - (now - p[_START]) if self.within != float("inf") else None
        if cnt < s.min:
            need = f"needs {'>= ' if s.max is None or s.max > s.min else ''}{s.min} repeats of '{s.name}', has {cnt}"
        elif j + 1 < len(spec.steps):
            need = f"step '{s.name}' done; waiting for '{spec.steps[j + 1].name}'"
        else:
            need = "complete"
        text = f"stuck at step {j + 1} ('{s.name}'): {need}"
        if left is not None:
            text += f"; expires in {left:g}s"
        return {"rule": spec.name, "kind": "sequence", "key": key_d, "step": j + 1, "step_name": s.name,
                "count": cnt, "needed": s.min, "started": p[_START], "expires_in": left,
                "progress": progress, "text": text}

    # -- snapshot
    def dump_state(self, key, st: SeqState) -> list:
        slots = [None if lst is None else [_dump_partial(p) for p in lst] for lst in st.slots]
        waits = None
        if st.waits:
            waits = [[w[0], w[1], _dump_partial(w[2]), w[3], list(w[4]) if w[4] is not None else None,
                      w[5] if len(w) > 5 else None, w[6] if len(w) > 6 else None] for w in st.waits]
        wins = None
        if st.wins:
            wins = [[j, w.dump()] for j, w in sorted(st.wins.items())]
        return [key, st.last, slots, waits, wins]

    def dump(self) -> list:
        return [self.dump_base(), self.token, [self.dump_state(k, st) for k, st in self.states.items()],
                self.partials_evicted]

    def load(self, data) -> None:
        base, self.token, items = data[:3]
        self.partials_evicted = data[3] if len(data) > 3 else 0
        self.load_base(base)
        self.states.clear()
        for item in items:
            self.load_state(item)

    def load_state(self, item) -> None:
        """Insert one key's state (from `dump_state`), as most recently active."""
        key, last, slots, waits, wins = item
        if True:
            st = SeqState(self.nstates)
            st.last = last
            st.slots = [None if lst is None else [_load_partial(p) for p in lst] for lst in slots]
            if waits:
                st.waits = [(w[0], w[1], _load_partial(w[2]), w[3], tuple(w[4]) if w[4] is not None else None,
                             thaw_key(w[5]) if len(w) > 5 else None, thaw_key(w[6]) if len(w) > 6 else None)
                            for w in waits]
            if wins:
                st.wins = {}
                for j, wd in wins:
                    s = self.spec.steps[j]
                    w = SlidingWindow(s.aggs, self.spec.limits, s.window)
                    w.load(wd)
                    st.wins[j] = w
            key = thaw_key(key)
            self.states.pop(key, None)
            self.states[key] = st
            if st.waits:
                self.token = max([self.token] + [w[1] for w in st.waits])


def _dump_partial(p):
    start, last, cnt, chain, binds = p
    nodes = []
    node = chain
    while node is not None:
        j, rec, prev, n = node
        nodes.append([j, list(rec[:2]) + [list(rec[2])] + ([rec[3]] if len(rec) > 3 else []), n])
        node = prev
    return [start, last, cnt, nodes, [list(b) if b is not None else None for b in binds] if binds else None]


def _load_partial(d):
    start, last, cnt, nodes, binds = d
    chain = None
    for j, rec, n in reversed(nodes):
        r = (rec[0], rec[1], tuple(rec[2])) + ((rec[3],) if len(rec) > 3 else ())
        chain = (j, r, chain, n)
    b = tuple(tuple(x) if x is not None else None for x in binds) if binds else None
    return (start, last, cnt, chain, b)


class JoinState:
    """A key's join: per step, the first event that matched it (or None), and last activity."""
    __slots__ = ("slots", "last")

    def __init__(self, n: int):
        self.slots: list = [None] * n       # per step: (ts, record, bind values) or None
        self.last = NEG_INF


class JoinMachine(Machine):
    """One `join` rule's keyed state: every step once, in any order (EQL's join).

    Per key, each step keeps the first event that matched it; an event fills
    every empty step it matches, in step order, and the key completes when
    every step is filled: one match (steps in written order), and the key
    starts over. With `within`, a step's event older than that when another
    event arrives is dropped first, so a match's events are at most `within`
    apart. `until` empties the key (its own key with `until ... by`). O(steps)
    per event and key.
    """

    kind = "join"

    def __init__(self, engine, spec):
        super().__init__(engine, spec)
        self.n = len(spec.steps)
        self.within = spec.within if spec.within is not None else float("inf")
        self.step_mask = (1 << self.n) - 1
        self.per_step_keys = any(s.key is not None for s in spec.steps)
        self.partials_evicted = 0
        self.pipes = spec.pipe_values

    def key_dict(self, key) -> dict:
        """Key values by field name; with per-step keys, the first step's key fields name them."""
        if not self.per_step_keys:
            return Machine.key_dict(self, key)
        names = self.spec.steps[0].key_names
        if len(names) == 1:
            return {names[0]: key}
        return dict(zip(names, key)) if isinstance(key, tuple) else {"key": key}

    def on_event(self, ev, bits: int) -> None:
        spec = self.spec
        n = self.n
        now = self.engine.now
        states = self.states
        if spec.has_until and (bits >> n) & 1:
            if spec.until_key is not None:
                targets = [spec.until_key(ev)]
            else:
                # Without its own key: every key the event has under a step's key.
                targets = []
                for s in spec.steps:
                    kf = s.key or spec.key
                    k = kf(ev) if kf is not None else ()
                    if k not in targets:
                        targets.append(k)
            for k in targets:
                if k is not None and states.pop(k, None) is not None:
                    self.engine.note_new_key(self, -1)
                    self.engine.metrics["until_resets"] += 1
        sbits = bits & self.step_mask
        j = 0
        while sbits:
            if sbits & 1:
                s = spec.steps[j]
                kf = s.key or spec.key
                key = kf(ev) if kf is not None else ()
                if key is not None:
                    self._fill(key, j, ev, now)
            sbits >>= 1
            j += 1

    def _fill(self, key, j: int, ev, now: float) -> None:
        states = self.states
        st = states.get(key)
        if st is None:
            st = JoinState(self.n)
            self.new_key(key, st)
        else:
            states.move_to_end(key)
            within = self.within
            if within != float("inf"):
                slots = st.slots
                for i, slot in enumerate(slots):
                    if slot is not None and now - slot[0] > within:
                        slots[i] = None
        st.last = now
        slots = st.slots
        if slots[j] is not None:
            return                      # the first event of a step is kept
        s = self.spec.steps[j]
        slots[j] = (now, (ev.get("id"), now, s.record(ev)), s.bind(ev) if s.bind is not None else None)
        for slot in slots:
            if slot is None:
                return
        del states[key]                 # complete: the key starts over
        self.engine.note_new_key(self, -1)
        self._complete(key, slots, ev)

    def _complete(self, key, slots: list, ev) -> None:
        spec = self.spec
        eng = self.engine
        binds = tuple(slot[2] for slot in slots) if any(s.bind is not None for s in spec.steps) else None
        fields = spec.emit(ev, None, binds) if spec.emit is not None else {}
        fp = spec.fingerprint(ev, None, binds) if spec.fingerprint is not None else None
        pv = self.pipes(ev, binds) if self.pipes is not None else None
        steps_out = []
        ids = []
        for s, slot in zip(spec.steps, slots):
            steps_out.append({"step": s.name, "count": 1, "events": [event_record(slot[1], s.fields)], "omitted": 0})
            ids.append(slot[1][0])
        prov = {"kind": "join", "within": format_seconds(spec.within), "steps": steps_out}
        first = min(slot[0] for slot in slots)
        last = max(slot[0] for slot in slots)
        key_d = self.key_dict(key)
        fp_parts = (spec.name, fp) if fp is not None else (spec.name, sorted(key_d.items()))
        match_id = stable_hash(spec.name, key_d, ids[0], ids[-1], eng.now)
        m = Match(spec.name, spec.ttp, spec.goal, spec.severity, spec.title, key_d, first, last, eng.now,
                  fields, prov, stable_hash(*fp_parts), match_id, self.degraded(first))
        eng.emit(spec, m, ev, pipe_values=pv)

    def forget(self, key, st) -> None:
        now = self.engine.now
        if now - st.last > self.horizon:
            return
        self.partials_evicted += sum(1 for slot in st.slots if slot is not None and now - slot[0] <= self.within)

    def degraded(self, first_ts: float) -> list[str]:
        if self.within == float("inf"):
            return ["evicted"] if self.last_eviction >= first_ts else []
        return super().degraded(first_ts)

    def describe(self, key, st: JoinState) -> dict | None:
        """Which steps of the key's join are filled, for near-miss reports."""
        filled = [s.name for s, slot in zip(self.spec.steps, st.slots) if slot is not None]
        if not filled:
            return None
        missing = [s.name for s, slot in zip(self.spec.steps, st.slots) if slot is None]
        return {"rule": self.spec.name, "kind": "join", "key": self.key_dict(key), "step": len(filled),
                "step_name": filled[-1], "progress": len(filled) / (self.n + 1),
                "text": f"join has {', '.join(filled)}; waiting for {', '.join(missing)}"}

    # -- snapshot
    def dump_state(self, key, st: JoinState) -> list:
        slots = [None if slot is None else [slot[0], [slot[1][0], slot[1][1], list(slot[1][2])],
                                             list(slot[2]) if slot[2] is not None else None]
                 for slot in st.slots]
        return [key, st.last, slots]

    def dump(self) -> list:
        return [self.dump_base(), [self.dump_state(k, st) for k, st in self.states.items()], self.partials_evicted]

    def load(self, data) -> None:
        base, items, self.partials_evicted = data
        self.load_base(base)
        self.states.clear()
        for item in items:
            self.load_state(item)

    def load_state(self, item) -> None:
        """Insert one key's state (from `dump_state`), as most recently active."""
        key, last, slots = item
        st = JoinState(self.n)
        st.last = last
        st.slots = [None if slot is None else (slot[0], (slot[1][0], slot[1][1], tuple(slot[1][2])),
                                               tuple(slot[2]) if slot[2] is not None else None)
                    for slot in slots]
        key = thaw_key(key)
        self.states.pop(key, None)
        self.states[key] = st
