"""The PyFlink DataStream job of `sleuth flink run`: the stages of `core`, wired into Flink.

chunks (a number sequence, checkpointed) → ingest (parallelism 1, keyed by
a constant: reads chunks, normalises, orders by event time, state in a
`ValueState`) → timestamps and monotonous watermarks → split into one side
output per key expression → per stage `key_by` + `KeyedProcessFunction`
(each key's engine state as bytes in a `ValueState`, its buffered items in
a `ListState`, deadlines as event-time timers) → stages of rules over rules
keyed by their own key → JSON lines to a file sink (matches, quarantine).
Thread mode (`python.execution-mode: thread`): Python runs inside the
TaskManager's JVM, one CPython per JVM. Imports pyflink: only this module.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import zlib
from typing import Any

from pyflink.common import Configuration, Encoder, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    RuntimeExecutionMode,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import FileSink, OutputFileConfig, RollingPolicy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor
from pyflink.java_gateway import get_gateway

from .core import (
    Chunk,
    Ingest,
    KeyedRunner,
    Lines,
    Router,
    Stage,
    consumers_of,
    flink_key,
    item_order,
    make_normalizer,
    plan_stages,
    read_chunk,
    sleuth_key,
    to_ms,
)

# Thread mode embeds CPython in the JVM, which finds the virtualenv's packages (pemja, sleuth)
# through the environment it inherits: without these, a client started as
# `venv/bin/python` (not activated) gets "No module named 'pemja'" in every task.
if sys.prefix != sys.base_prefix and os.environ.get("VIRTUAL_ENV") != sys.prefix:
    os.environ["VIRTUAL_ENV"] = sys.prefix
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

PICKLED = Types.PICKLED_BYTE_ARRAY()
QUARANTINE = OutputTag("quarantine", Types.STRING())
MAX_PARALLELISM = 128       # key groups: the most a job saved at any parallelism can be resumed at
_PACKS: dict[str, Any] = {}


def _pack(path: str):
    """The pack, compiled once per Python interpreter (one per TaskManager in thread mode)."""
    pack = _PACKS.get(path)
    if pack is None:
        from sleuth.dsl import load_pack

        pack = _PACKS[path] = load_pack(path)
    return pack


class IngestFn(KeyedProcessFunction):
    """Reads one chunk per element, normalises, quarantines, and releases events in time order."""

    def __init__(self, chunks: list[Chunk], options: dict, pack_path: str):
        self.chunks = chunks
        self.options = options
        self.pack_path = pack_path

    def open(self, runtime_context):
        o = self.options
        self.sink = Lines()
        from sleuth.engine import Quarantine

        self.quarantine = Quarantine(self.sink)
        self.normalizer = make_normalizer(o.get("mapping"), o.get("openapi"), o.get("templating", True))
        # Keys may be derived fields (client, actor, role): derive what the pack reads before keying,
        # as the engine and the one-process pipeline do.
        self.normalizer.want(_pack(self.pack_path).fields)
        self.state = runtime_context.get_state(ValueStateDescriptor("ingest", PICKLED))

    def process_element(self, n, ctx):
        o = self.options
        ingest = Ingest(self.normalizer, self.quarantine, lateness=o["lateness"],
                        future_tolerance=o["future_tolerance"], future_confirm=o["future_confirm"],
                        pack=_pack(self.pack_path))
        saved = self.state.value()
        if saved is not None:
            ingest.load(pickle.loads(saved))
        chunk = self.chunks[n]
        out = []
        started = time.monotonic()
        records = 0
        for pos, item in read_chunk(chunk, max_line_bytes=o["max_line_bytes"]):
            out += ingest.push(chunk.name, pos, item)
            records += 1
        if o.get("max_rate"):
            # Replay pacing (--max-rate): a chunk takes at least records / rate seconds.
            time.sleep(max(0.0, records / o["max_rate"] - (time.monotonic() - started)))
        if n == len(self.chunks) - 1:
            out += ingest.finish()
        # Pickled bytes, never empty: an empty byte-array value crashes PyFlink 2.3 in thread mode.
        self.state.update(pickle.dumps(ingest.dump(), protocol=pickle.HIGHEST_PROTOCOL))
        for line in self.sink.drain():
            yield QUARANTINE, line.decode("utf-8").rstrip("\n")
        for seq, ev in out:
            yield seq, to_ms(ev["ts"]), pickle.dumps(ev, protocol=pickle.HIGHEST_PROTOCOL)


class EventTime(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp) -> int:
        return value[1]


class SplitFn(ProcessFunction):
    """Hands each event to the stages whose rules can read it, keyed by that stage's key."""

    def __init__(self, pack_path: str, tags: dict[int, OutputTag]):
        self.pack_path = pack_path
        self.tags = tags

    def open(self, runtime_context):
        pack = _pack(self.pack_path)
        self.router = Router(pack, plan_stages(pack))

    def process_element(self, value, ctx):
        seq, ms, payload = value
        ev = pickle.loads(payload)
        for stage, key in self.router.route(ev):
            yield self.tags[stage.index], (flink_key(key), key, ms, seq, payload)


class StageFn(KeyedProcessFunction):
    """One keyed stage: each key's engine state in `ValueState`, its pending items in `ListState`.

    An item waits until the watermark passes its millisecond (the ingest
    already ordered events; this makes rules over rules see matches of all
    stages in time order, and lets one call take all of a key's items up to
    the watermark). A timer fires for the key's first pending item, its next
    deadline, and the time its state becomes garbage.
    """

    def __init__(self, pack_path: str, stage: Stage, grace: float):
        self.pack_path = pack_path
        self.stage = stage
        self.grace = grace

    def open(self, runtime_context):
        self.sink = Lines()
        from sleuth.engine import Quarantine

        self.runner = KeyedRunner(_pack(self.pack_path), self.stage, grace=self.grace,
                                  quarantine=Quarantine(self.sink))
        self.blob = runtime_context.get_state(ValueStateDescriptor("blob", PICKLED))
        self.items = runtime_context.get_list_state(ListStateDescriptor("items", PICKLED))
        self.meta = runtime_context.get_state(ValueStateDescriptor("meta", PICKLED))

    def process_element(self, value, ctx):
        _fkey, key, ms, a, b = value
        self.items.add((ms, a, b))
        meta = self.meta.value()
        armed = meta[1] if meta is not None else None
        if armed is None or ms < armed:
            ctx.timer_service().register_event_time_timer(ms)
            self.meta.update((key, ms) if meta is None else (key, ms, *meta[2:]))

    def on_timer(self, timestamp, ctx):
        meta = self.meta.value()
        if meta is None:
            return
        key = meta[0]
        wm = ctx.timer_service().current_watermark()
        pending = list(self.items.get() or ())
        due = [p for p in pending if p[0] <= wm]
        rest = [p for p in pending if p[0] > wm]
        armed = None
        if rest:
            self.items.update(rest)
            armed = min(p[0] for p in rest)
            ctx.timer_service().register_event_time_timer(armed)
        elif pending:
            self.items.clear()
        deadlines = meta[2:] if len(meta) > 2 else ()
        if not due and not any(d is not None and d <= wm for d in deadlines):
            self.meta.update((key, armed, *deadlines))
            return
        held = self.blob.value()
        items = sorted(((a, pickle.loads(b) if type(b) is bytes else b) for _ms, a, b in due), key=item_order)
        out, blob, due_ms, idle_ms = self.runner.run(zlib.decompress(held[0]) if held is not None else None,
                                                      key, items, wm)
        if blob is None:
            self.blob.clear()
            if armed is None:
                self.meta.clear()
            else:
                self.meta.update((key, armed))
        else:
            # A non-empty envelope (see IngestFn); zlib: msgpack of window events shrinks 5.7x (3,000
            # simulated events), and a state write costs in proportion to its size in thread mode.
            self.blob.update((zlib.compress(blob, 1),))
            for t in (due_ms, idle_ms):
                if t is not None:
                    ctx.timer_service().register_event_time_timer(t)
            self.meta.update((key, armed, due_ms, idle_ms))
        for line in self.sink.drain():
            yield QUARANTINE, line.decode("utf-8").rstrip("\n")
        yield from out


class RouteMatches(ProcessFunction):
    """Hands matches to a stage of rules over rules that reads their rule, keyed by its key."""

    def __init__(self, pack_path: str, stage: Stage):
        self.pack_path = pack_path
        self.stage = stage

    def open(self, runtime_context):
        pack = _pack(self.pack_path)
        self.reads = consumers_of(pack, self.stage)
        self.keyf = pack.rule(self.stage.rules[0]).key

    def process_element(self, value, ctx):
        order, m = value
        if m.rule in self.reads:
            key = sleuth_key(self.keyf, m.as_event())
            yield flink_key(key), key, to_ms(m.emitted_at), order, m


def _to_json(value) -> str:
    return value[1].to_json().decode("utf-8")


def build(env: StreamExecutionEnvironment, pack_path: str, chunks: list[Chunk], out_dir: str,
          options: dict) -> None:
    """Add the job's operators to `env`: chunks → ingest → keyed stages → file sinks under `out_dir`."""
    from sleuth.dsl import load_pack

    pack = load_pack(pack_path)
    stages = plan_stages(pack)
    level0 = [s for s in stages if s.level == 0]
    tags = {s.index: OutputTag(f"stage-{s.index}", PICKLED) for s in level0}

    numbers = env.from_source(NumberSequenceSource(0, len(chunks) - 1), WatermarkStrategy.no_watermarks(),
                              "sleuth-chunks").uid("sleuth-chunks").set_parallelism(1)
    ingest = (numbers.key_by(lambda n: 0, key_type=Types.INT())
              .process(IngestFn(chunks, options, pack_path), output_type=PICKLED)
              .uid("sleuth-ingest").name("sleuth-ingest").set_parallelism(1))
    timed = ingest.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(EventTime())
    ).uid("sleuth-event-time").set_parallelism(1)
    split = timed.process(SplitFn(pack_path, tags), output_type=PICKLED).uid("sleuth-split") \
        .name("sleuth-split").set_parallelism(1)
    quarantine = [ingest.get_side_output(QUARANTINE)]
    matches = []
    for s in stages:
        if s.level == 0:
            source = split.get_side_output(tags[s.index])
        else:
            lower = [m for m, st in matches if st.level < s.level]
            merged = lower[0].union(*lower[1:]) if len(lower) > 1 else lower[0]
            source = merged.process(RouteMatches(pack_path, s), output_type=PICKLED) \
                .uid(f"sleuth-route-{s.name}").name(f"route {s.name}")
        out = (source.key_by(lambda r: r[0], key_type=Types.STRING())
               .process(StageFn(pack_path, s, options["grace"]), output_type=PICKLED)
               .uid(f"sleuth-{s.name}").name(s.name))
        matches.append((out, s))
        quarantine.append(out.get_side_output(QUARANTINE))
    all_matches = [m for m, _s in matches]
    merged = all_matches[0].union(*all_matches[1:]) if len(all_matches) > 1 else all_matches[0]
    json_lines = merged.map(_to_json, output_type=Types.STRING()).uid("sleuth-matches-json")
    json_lines.sink_to(_file_sink(os.path.join(out_dir, "matches"), "matches")).uid("sleuth-matches-sink") \
        .name("matches")
    q = quarantine[0].union(*quarantine[1:]) if len(quarantine) > 1 else quarantine[0]
    q.sink_to(_file_sink(os.path.join(out_dir, "quarantine"), "quarantine")).uid("sleuth-quarantine-sink") \
        .name("quarantine")


def _file_sink(path: str, prefix: str) -> FileSink:
    config = OutputFileConfig.builder().with_part_prefix(prefix).with_part_suffix(".jsonl").build()
    # Part files roll at every checkpoint: what a checkpoint or savepoint covers is committed,
    # nothing stays in progress across a stop.
    return FileSink.for_row_format(path, Encoder.simple_string_encoder()) \
        .with_output_file_config(config).with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy()).build()


def environment(parallelism: int, *, savepoint: str | None = None, checkpoint_ms: int = 2000,
                checkpoint_dir: str | None = None, extra: dict[str, str] | None = None) -> StreamExecutionEnvironment:
    """A streaming environment in thread mode (local mini-cluster unless submitted to a cluster).

    Checkpoints go to files under `checkpoint_dir` (the default storage in the
    JobManager's memory refuses a subtask's state past 5 MB: one stage of the
    shipped pack passed it on 31k simulated events).
    """
    conf = Configuration()
    if checkpoint_dir:
        conf.set_string("execution.checkpointing.storage", "filesystem")
        conf.set_string("execution.checkpointing.dir", "file://" + os.path.abspath(checkpoint_dir))
    conf.set_string("python.execution-mode", "thread")
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("pipeline.max-parallelism", str(MAX_PARALLELISM))
    # In-flight data sized to about a second of throughput: a savepoint (always aligned) waits
    # only for that much, not for every buffer queued behind the slowest stage.
    conf.set_string("taskmanager.network.memory.buffer-debloat.enabled", "true")
    if savepoint:
        conf.set_string("execution.savepoint.path", savepoint)
    for k, v in (extra or {}).items():
        conf.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    env.set_parallelism(parallelism)
    env.set_max_parallelism(MAX_PARALLELISM)
    env.enable_checkpointing(checkpoint_ms)
    # Barriers overtake records queued behind a slow stage: checkpoints and stops stay quick
    # under backpressure (measured: an aligned first checkpoint took minutes on a loaded machine).
    env.get_checkpoint_config().enable_unaligned_checkpoints(True)
    return env


class Running:
    """A submitted job: wait for it, or stop it with a savepoint."""

    def __init__(self, client):
        self.client = client

    @property
    def job_id(self) -> str:
        return str(self.client.get_job_id())

    def status(self) -> str:
        return str(self.client.get_job_status().result())

    def wait(self) -> None:
        """Until the job ends; raises when it failed."""
        self.client.get_job_execution_result().result()

    def stop_with_savepoint(self, directory: str, drain: bool = False) -> str:
        """Stop the job, writing a savepoint under `directory`; returns its path.

        PyFlink 2.3's `JobClient.stop_with_savepoint` calls a Java method that
        no longer exists: call `stopWithSavepoint(boolean, String,
        SavepointFormatType)` on the Java client directly.
        """
        fmt = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
        future = self.client._j_job_client.stopWithSavepoint(drain, os.path.abspath(directory), fmt)
        return str(future.get())


def submit(env: StreamExecutionEnvironment, name: str = "sleuth") -> Running:
    return Running(env.execute_async(name))
