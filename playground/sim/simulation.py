"""``generate`` and ``write``: one simulated run, in memory and on disk.

Part of ``sleuth simulate``. A run builds the world (``WORLDS``: the tuning world
or a held-out one, rendered through its ``Renderer``) from the seed, runs the
benign drivers, the traps and the selected attack generators (each with its own
``random.Random`` seeded from a string, so toggling one generator never changes
another's traffic), then sorts, numbers and formats the events and derives the
labels (with the world and what each rendering can show), traps, OpenAPI
document, manifest and role table. Same config → byte-identical files: no wall
clock, no set iteration order, keys sorted by orjson.
"""

from __future__ import annotations

import gc
import os
import random
from operator import itemgetter
from pathlib import Path

import attrs
import orjson

from . import benign, clients
from .accesslog import NETWORKS, write_access_log, write_prefixes
from .attack import ATTACK_KINDS, CAMPAIGN_STAGE_NEEDS, run_attacks
from .harbor import HARBOR
from .marquee import MARQUEE
from .northwind import NORTHWIND
from .relay import RELAY
from .render import Renderer
from .traffic import Instance, World
from .world import (
    AZURE,
    BANK,
    GCP,
    REFERENCE_LISTS,
    SHOP,
    TTPS,
    Limiter,
    TsFormatter,
    build_population,
    format_ts,
    parse_ts,
)
from .worlds import TUNING, WorldSpec, visibility

WORLDS: dict[str, WorldSpec] = {w.name: w for w in (TUNING, NORTHWIND, RELAY, HARBOR, MARQUEE)}
"""The API worlds by name: ``tuning`` (rules are tuned on it) and the held-out ones."""

ENTITY_FIELDS = ("src_ip", "asn", "country", "user", "session", "ua", "ja3", "ja4")
"""Event fields summarised (distinct values, sorted) in a label's ``entities``."""

_ORIGINAL_TRAP_KINDS = (
    "corporate-nat", "mobile-cgnat", "uptime-monitor", "search-crawler", "partner-poller",
    "traveller", "support-agent", "flash-sale",
)

WORLD_TRAP_KINDS: tuple[str, ...] = (*_ORIGINAL_TRAP_KINDS, "bulk-download", "long-poller", "app-refresh")
"""Every trap kind a world can have: the original eight, bulk downloads, long-period pollers and
apps refreshing in the background."""

TRAP_KINDS: tuple[str, ...] = WORLD_TRAP_KINDS
"""Benign false-positive traps of the tuning world, one instance or more each per run (every kind)."""


def trap_kinds(spec: WorldSpec) -> tuple[str, ...]:
    """The trap kinds a run of this world (at a scale > 0) contains."""
    pp = spec.populace
    if not spec.held_out:
        extra = {k for k, present in (("bulk-download", pp.bulk), ("long-poller", pp.pollers),
                                      ("app-refresh", pp.refresh)) if present}
        return tuple(k for k in WORLD_TRAP_KINDS if k in _ORIGINAL_TRAP_KINDS or k in extra)
    have = {"mobile-cgnat"}
    for kind, present in (("corporate-nat", pp.corporate), ("uptime-monitor", pp.monitors),
                          ("search-crawler", pp.crawlers), ("partner-poller", pp.partners),
                          ("traveller", pp.traveller), ("support-agent", pp.support), ("flash-sale", pp.flash_sale),
                          ("bulk-download", pp.bulk), ("long-poller", pp.pollers), ("app-refresh", pp.refresh)):
        if present:
            have.add(kind)
    return tuple(k for k in WORLD_TRAP_KINDS if k in have)


def _attacks(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    return tuple(v.strip() for v in value)


@attrs.frozen
class SimConfig:
    """What to simulate. ``attacks`` selects ttp ids (``None`` = all 15)."""

    hours: float = 1.0
    seed: int = 7
    scale: float = 1.0  # multiplies benign volume (scale 1 ≈ 15-25 benign events/s at the daily peak)
    disorder: float = 0.0  # seconds of arrival disorder
    attacks: tuple[str, ...] | None = attrs.field(default=None, converter=_attacks)
    only_benign: bool = False
    start: str = "2026-11-27T08:00:00Z"  # Black Friday morning
    world: str = "tuning"  # a WORLDS name
    generators: tuple[str, ...] | None = attrs.field(default=None, converter=_attacks)  # None: the world's default


@attrs.frozen
class Simulation:
    """One generated run: events in arrival order plus ground truth and metadata."""

    events: list[dict]
    labels: list[dict]
    traps: list[dict]
    openapi: dict
    manifest: dict
    world: str = "tuning"


def default_generators(spec: WorldSpec) -> tuple[str, ...]:
    """The generators a run of this world uses unless told otherwise: the tuning world keeps
    its original programs, held-out worlds run every one."""
    return tuple(k.name for k in ATTACK_KINDS if k.tuning or spec.held_out)


def _check(config: SimConfig) -> tuple[str, ...]:
    if config.world not in WORLDS:
        raise ValueError(f"unknown world {config.world!r}; expected one of: {', '.join(WORLDS)}")
    if config.generators is not None:
        names = {k.name for k in ATTACK_KINDS}
        unknown = [g for g in config.generators if g not in names and g != "all"]
        if unknown:
            raise ValueError(f"unknown generator(s) {', '.join(repr(u) for u in unknown)}; expected some of: "
                             f"{', '.join(sorted(names))} (or all)")
    if not config.hours > 0:
        raise ValueError(f"hours must be > 0 (got {config.hours!r})")
    if config.scale < 0:
        raise ValueError(f"scale must be >= 0 (got {config.scale!r})")
    if config.disorder < 0:
        raise ValueError(f"disorder must be >= 0 seconds (got {config.disorder!r})")
    if config.attacks is None:
        return TTPS
    unknown = [a for a in config.attacks if a not in TTPS]
    if unknown:
        raise ValueError(f"unknown ttp id(s) {', '.join(repr(u) for u in unknown)}; expected some of: {', '.join(TTPS)}")
    return tuple(t for t in TTPS if t in config.attacks)


def generate(config: SimConfig) -> Simulation:
    """Simulate ``config.hours`` of labelled API traffic, deterministically from ``config.seed``.

    Raises ``ValueError`` on a bad config (non-positive hours, unknown ttp id).
    Cost: ~10 µs per event (1 h at scale 1 ≈ 70 k events in well under 2 s).
    """
    ttps = _check(config)
    # Generation allocates ~10 dicts per event and frees almost nothing, so the cyclic
    # collector's full passes are pure overhead (measured: up to 35 % of the run).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(config, ttps)
    finally:
        if enabled:
            gc.enable()


def _kinds(config: SimConfig, spec: WorldSpec) -> frozenset[str]:
    if config.generators is None:
        return frozenset(default_generators(spec))
    if "all" in config.generators:
        return frozenset(k.name for k in ATTACK_KINDS)
    return frozenset(config.generators)


def _generate(config: SimConfig, ttps: tuple[str, ...]) -> Simulation:
    spec = WORLDS[config.world]
    if spec.held_out:
        return _generate_held_out(config, ttps, spec)
    seed = config.seed
    start = parse_ts(config.start)
    end = start + int(round(config.hours * 3_600_000))
    n_users = max(3000, int(25_000 * config.scale))
    pop = build_population(random.Random(f"{seed}:world"), n_users)
    w = World(pop, start, end, config.scale)
    scale = config.scale

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    ident, pp = spec.identity, spec.populace
    # Sessionless starts: web visits whose first request has no cookie yet, apps starting cold.
    w.fresh_share, w.app_launch, w.cold_start = ident.first_without_session, ident.app_launch, ident.cold_start
    benign.flag_corporate(w, rng("corporate-staff"), 350)
    if scale > 0:
        benign.baseline(w, rng("baseline"), scale)
        benign.corporate(w, rng("corporate"), scale)
        if pp.refresh is not None:
            clients.refresh(w, rng("refresh"), pp.refresh, scale)
        for i, r in enumerate(pp.more_refresh):
            clients.refresh(w, rng(f"refresh:{i + 1}"), r, scale)
    benign.uptime_monitor(w, rng("uptime"))
    benign.googlebot(w, rng("googlebot"))
    benign.partner(w, rng("partner"))
    benign.support_agents(w, rng("support"), scale)
    benign.traveller(w, rng("traveller"), max(1, round(config.hours / 3)))
    benign.flash_sale(w, rng("flash-sale"))
    # The machine clients real APIs carry (each on its own stream).
    for i, m in enumerate(pp.monitors):
        clients.monitor(w, rng(f"monitor:{i}"), m)
    for i, b in enumerate(pp.bulk):
        clients.bulk(w, rng(f"bulk:{i}"), b)
    for i, p in enumerate(pp.pollers):
        clients.poller(w, rng(f"poller:{i}"), p)
    for i, p in enumerate(pp.partners):
        clients.partner(w, rng(f"partner:{i + 1}"), p)
    if not config.only_benign:
        run_attacks(w, seed, ttps, config.hours, _kinds(config, spec))
    return _finish(w, config, ttps, spec)


def _generate_held_out(config: SimConfig, ttps: tuple[str, ...], spec: WorldSpec) -> Simulation:
    """A held-out world: its population and clients, every program rendered through its routes."""
    seed, name, pp = config.seed, spec.name, spec.populace
    start = parse_ts(config.start)
    end = start + int(round(config.hours * 3_600_000))
    n_users = max(3000, int(25_000 * config.scale))
    pop = build_population(random.Random(f"{seed}:{name}:world"), n_users, mobile_share=pp.mobile_share,
                           app_weight=pp.app_weight, pool_factor=pp.pool_factor)
    w = World(pop, start, end, config.scale, fx=Renderer(spec), shadow=spec.shadow)
    for attr, key in (("login_limit", "login"), ("code_limit", "code"), ("otp_limit", "otp"),
                      ("export_limit", "export"), ("exists_limit", "exists")):
        if key in spec.conventions.limits:
            setattr(w, attr, Limiter(*spec.conventions.limits[key]))
    scale = config.scale

    def rng(stream: str) -> random.Random:
        return random.Random(f"{seed}:{name}:{stream}")

    if scale > 0:
        benign.baseline(w, rng("baseline"), scale, pp.peak_eps)
        for i, site in enumerate(pp.corporate):
            clients.office(w, rng(f"office:{i}"), site, scale)
        if pp.refresh is not None:
            clients.refresh(w, rng("refresh"), pp.refresh, scale)
    for i, m in enumerate(pp.monitors):
        clients.monitor(w, rng(f"monitor:{i}"), m)
    for i, c in enumerate(pp.crawlers):
        clients.crawler(w, rng(f"crawler:{i}"), c)
    for i, p in enumerate(pp.partners):
        clients.partner(w, rng(f"partner:{i}"), p)
    for i, b in enumerate(pp.bulk):
        clients.bulk(w, rng(f"bulk:{i}"), b)
    for i, p in enumerate(pp.pollers):
        clients.poller(w, rng(f"poller:{i}"), p)
    if pp.support:
        benign.support_agents(w, rng("support"), scale)
    if pp.traveller:
        benign.traveller(w, rng("traveller"), max(1, round(config.hours / 3)))
    if pp.flash_sale:
        benign.flash_sale(w, rng("flash-sale"))
    if not config.only_benign:
        run_attacks(w, f"{seed}:{name}", ttps, config.hours, _kinds(config, spec))
    return _finish(w, config, ttps, spec)


def _finish(w: World, config: SimConfig, ttps: tuple[str, ...], spec: WorldSpec) -> Simulation:
    start, end = w.start, w.end
    events = [e for e in w.events if start <= e["ts"] < end]
    events.sort(key=itemgetter("ts"))  # stable: ties keep generation order
    for i, e in enumerate(events, 1):
        e["id"] = f"ev-{i:08d}"
    if w.fx is not None:
        for e in w.events:
            e.pop("_k", None)
    labels = _number(w.labels, "atk", start, end)
    traps = _number(w.traps, "trap", start, end)
    label_dicts = [_label(inst, spec) for inst in labels]
    trap_dicts = [_trap(inst, spec) for inst in traps]
    n_attack = len({e["id"] for inst in labels for e in inst.events})
    times = [e["ts"] for e in events]
    fmt = TsFormatter()
    for e in events:
        e["ts"] = fmt(e["ts"])
    if config.disorder > 0:
        # Arrival = event time + a delay in [0, D]; a stable sort on arrival keeps ties
        # in event order. Any event then trails the newest event before it by <= D.
        d_ms = int(round(config.disorder * 1000))
        jitter = random.Random(f"{config.seed}:disorder")
        arrival = [t + jitter.randint(0, d_ms) for t in times]
        events = [events[i] for i in sorted(range(len(events)), key=arrival.__getitem__)]
    manifest = _manifest(w, config, ttps, times, label_dicts, trap_dicts, n_attack, spec)
    return Simulation(events, label_dicts, trap_dicts, spec.openapi(), manifest, spec.name)


def _number(insts: list[Instance], prefix: str, start: int, end: int) -> list[Instance]:
    """Clip instances to the span, drop empty ones, give ids in start-time order."""
    kept = []
    for inst in insts:
        inst.events = [e for e in inst.events if start <= e["ts"] < end]
        inst.events.sort(key=itemgetter("ts"))
        if inst.events:
            kept.append(inst)
    kept.sort(key=lambda i: (i.events[0]["ts"], i.kind, i.events[0]["id"]))
    for n, inst in enumerate(kept, 1):
        inst.ident = f"{prefix}-{n:04d}"
    return kept


def _entities(events: list[dict]) -> dict[str, list]:
    out = {}
    for f in ENTITY_FIELDS:
        vals = sorted({e[f] for e in events if f in e})
        if vals:
            out[f] = vals
    return out


def _common(inst: Instance) -> dict:
    evs = inst.events
    return {
        "id": inst.ident,
        "start": format_ts(evs[0]["ts"]),
        "end": format_ts(max(e["ts"] for e in evs)),
        "entities": _entities(evs),
        "event_ids": sorted(e["id"] for e in evs),
        "description": inst.description,
    }


_NEEDS = {k.name: k.needs for k in ATTACK_KINDS}


def _label(inst: Instance, spec: WorldSpec) -> dict:
    out = _common(inst)
    if inst.campaign is not None:
        needs = CAMPAIGN_STAGE_NEEDS.get(inst.ttp, _NEEDS[inst.kind])
    else:
        needs = _NEEDS[inst.kind]
    visible, missing = visibility(spec, needs)
    out.update(
        ttp=inst.ttp,
        goal=inst.goal,
        difficulty=inst.difficulty,
        campaign=inst.campaign.ident if inst.campaign is not None else None,
        generator=inst.kind,
        also=sorted(inst.also),
        world=spec.name,
        visible=visible,
        missing={k: v for k, v in missing.items() if v},
    )
    return out


def _trap(inst: Instance, spec: WorldSpec) -> dict:
    out = _common(inst)
    out["trap"] = inst.kind
    out["world"] = spec.name
    return out


def _world_block(spec: WorldSpec) -> dict:
    """What the manifest says about the world: names, identity fields, answers, population."""
    pp = spec.populace
    return {
        "name": spec.name,
        "title": spec.title,
        "held_out": spec.held_out,
        "style": spec.style,
        "host": spec.host,
        "base": spec.base,
        "identity": attrs.asdict(spec.identity),
        "conventions": {k: v for k, v in attrs.asdict(spec.conventions).items() if k not in ("codes", "limits")}
        | {"limits": {k: list(v) for k, v in sorted(spec.conventions.limits.items())}},
        "population": {"peak_eps": pp.peak_eps, "mobile_share": pp.mobile_share, "app_weight": pp.app_weight,
                       "pool_factor": pp.pool_factor},
        "features": {r: sorted(spec.features(r)) for r in ("events", "access_log")},
        "trap_kinds": list(trap_kinds(spec)),
    } | ({"older": _older_block(spec)} if spec.older else {})


def _older_block(spec: WorldSpec) -> dict:
    """The older generation of routes a world still serves: where, to whom, how it answers."""
    conv = spec.older_conventions or spec.conventions
    return {
        "hosts": sorted({o.host or spec.host for o in spec.older.values()}),
        "operations": sorted(spec.older),
        "clients": list(spec.older_clients),
        "unlogged": sorted(spec.older_unlogged),
        "conventions": {k: v for k, v in attrs.asdict(conv).items() if k not in ("codes", "limits")},
    }


def _roles(spec: WorldSpec) -> list[dict]:
    """Ground truth: every documented operation's role (the evaluation's, never the product's)."""
    out = []
    for method, path, op_id, role in spec.role_table():
        op = next((o for o in spec.ops.values() if o.op_id == op_id and o.path == path), None)
        base = "" if op is None or (op.host and op.host != spec.host) else spec.base
        out.append({"method": method, "path": path, "route": base + path, "operation": op_id, "role": role})
    return out


def _manifest(w: World, config: SimConfig, ttps: tuple[str, ...], times: list[int],
              labels: list[dict], traps: list[dict], n_attack: int, spec: WorldSpec) -> dict:
    by_ttp = {t: 0 for t in TTPS}
    by_gen: dict[str, int] = {}
    for lab in labels:
        by_ttp[lab["ttp"]] += 1
        by_gen[lab["generator"]] = by_gen.get(lab["generator"], 0) + 1
    by_trap: dict[str, int] = {}
    for tr in traps:
        by_trap[tr["trap"]] = by_trap.get(tr["trap"], 0) + 1
    cfg = attrs.asdict(config)
    cfg["attacks"] = list(config.attacks) if config.attacks is not None else None
    fs, fe = w.flash
    return {
        "format": 1,
        "generator": "sleuth simulate",
        "config": cfg,
        "seed": config.seed,
        "span": {"start": format_ts(w.start), "end": format_ts(w.end), "hours": config.hours},
        "events": {
            "count": len(times),
            "attack": n_attack,
            "benign": len(times) - n_attack,
            "first": format_ts(times[0]) if times else None,
            "last": format_ts(times[-1]) if times else None,
        },
        "attacks_enabled": [] if config.only_benign else list(ttps),
        "labels": {"count": len(labels), "by_ttp": by_ttp, "by_generator": by_gen},
        "traps": {"count": len(traps), "by_kind": by_trap},
        "flash_sale": {"start": format_ts(fs), "end": format_ts(fe), "products": list(w.sale_products),
                       **w.flash_stats},
        "population": {"users": len(w.pop.users), "products": len(w.cat.products)},
        "hosts": [SHOP, BANK] if not spec.held_out else sorted({spec.host} | {o.host for o in spec.ops.values() if o.host}
                                                                | {o.host for o in spec.older.values() if o.host}),
        "reference_lists": REFERENCE_LISTS if not spec.held_out else _reference_lists(spec),
        "attack_kinds": [attrs.asdict(k) for k in ATTACK_KINDS],
        "generators": sorted(_kinds(config, spec)) if not config.only_benign else [],
        "world": _world_block(spec),
        "roles": _roles(spec),
    }


def _reference_lists(spec: WorldSpec) -> dict:
    """The reference lists a deployment of this world would have: hosting networks, Tor exits,
    known-bad ranges, the crawlers' published ranges, and the API keys it issued."""
    pp = spec.populace
    out = dict(REFERENCE_LISTS)
    out["hosting_asns"] = sorted(set(REFERENCE_LISTS["hosting_asns"]) | {GCP.asn, AZURE.asn})
    out["crawler_cidrs"] = {c.name.lower(): list(c.network.prefixes) for c in pp.crawlers}
    out["api_keys"] = sorted({p.key for p in pp.partners} | {b.key for b in pp.bulk if b.key}
                             | {p.key for p in pp.pollers if p.key})
    return out


_JSONL = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    dumps = orjson.dumps
    with open(path, "wb") as f:
        for i in range(0, len(rows), 20_000):  # bounded buffers: memory stays ~output size
            f.write(b"".join([dumps(r, option=_JSONL) for r in rows[i : i + 20_000]]))


def write(sim: Simulation, outdir: str | os.PathLike, *, access_log: bool = False) -> dict[str, str]:
    """Write the run's files into ``outdir`` (created if missing); returns name → path.

    Always ``events.jsonl``, ``labels.jsonl``, ``traps.jsonl``, ``openapi.json``,
    ``manifest.json`` and ``roles.tsv``; with ``access_log`` also ``access.log`` (the events
    as an Apache/nginx combined log, line n = event n of ``events.jsonl``) and
    ``prefixes.csv`` (the world's networks, for ``PrefixTable`` enrichment).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    names = ["events.jsonl", "labels.jsonl", "traps.jsonl", "openapi.json", "manifest.json", "roles.tsv"]
    if access_log:
        names += ["access.log", "prefixes.csv"]
    paths = {name: out / name for name in names}
    rows = [f"{r['method']}\t{r['path']}\t{r['operation']}\t{r['role'] or 'null'}\n" for r in sim.manifest["roles"]]
    paths["roles.tsv"].write_text("".join(rows), encoding="utf-8")
    if access_log:
        write_access_log(sim.events, paths["access.log"])
        pp = WORLDS[sim.world].populace
        # A world's own networks: its offices, and crawlers' published ranges the shared list lacks.
        extra = [site.network for site in pp.corporate]
        extra += [c.network for c in pp.crawlers if c.network not in NETWORKS and c.network not in extra]
        write_prefixes(paths["prefixes.csv"], extra)
    _write_jsonl(paths["events.jsonl"], sim.events)
    _write_jsonl(paths["labels.jsonl"], sim.labels)
    _write_jsonl(paths["traps.jsonl"], sim.traps)
    pretty = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    paths["openapi.json"].write_bytes(orjson.dumps(sim.openapi, option=pretty))
    paths["manifest.json"].write_bytes(orjson.dumps(sim.manifest, option=pretty))
    return {name: str(p) for name, p in paths.items()}
