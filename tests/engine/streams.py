"""Random event streams for the property and snapshot tests (needs hypothesis).

`MIXED_PACK` is a fixed multi-rule pack touching every machine: a sequence
with a repeat, an absence between steps, a reference and `until`; a sliding
window with suppression; a tumbling window; a session window; a trailing
absence; and a plain filter. `event_lists()` draws sorted streams over a
few users, IPs, routes and user agents, with ties, short gaps and gaps
longer than the rules' spans. Every event has an explicit id, so its id
does not depend on its arrival position.
"""

from __future__ import annotations

from hypothesis import strategies as st

META = 'meta { ttp = "account-takeover"  goal = "account-takeover"  severity = high  title = "t" }'

MIXED_PACK = f'''
rule brute {{
  {META}
  by user
  within 2m
  sequence {{
    fails:  route == "/login" and status == 401 repeat >= 2
    ok:     route == "/login" and status == 200
    change: route == "/pw" and src_ip != fails.src_ip
  }}
  unless mfa: route == "/mfa" between ok and change
  until route == "/logout"
  emit {{ from_ip = fails.src_ip, to_ip = change.src_ip }}
}}

rule busy_ip {{
  {META}
  by src_ip
  window 30s
  having count() >= 4 and distinct(user) >= 2
  emit {{ users = sample(user, 3), n = count() }}
  suppress 20s
}}

rule route_burst {{
  {META}
  by route
  window 1m tumbling
  having count() >= 5 and ratio(status == 401) >= 0.2
}}

rule agent_session {{
  {META}
  by ua
  window session gap 15s
  having count() >= 3 and cv(interarrival()) < 2
}}

rule reset_unconfirmed {{
  {META}
  by user
  within 1m
  sequence {{
    req:  route == "/reset"
    code: route == "/code"
  }}
  unless done: route == "/confirm" after code within 20s
}}

rule server_error {{
  {META}
  when status == 500 and method == "POST"
}}
'''

USERS = ("alice", "bob", "carol")
IPS = ("10.0.0.1", "10.0.0.2", "192.0.2.9")
ROUTES = ("/login", "/login", "/pw", "/mfa", "/logout", "/reset", "/code", "/confirm", "/x")
STATUSES = (200, 200, 401, 401, 500)
METHODS = ("GET", "POST")
AGENTS = ("curl/8", "Mozilla/5.0")
GAPS = (0, 0, 0.5, 1, 1, 2, 3, 5, 8, 13, 40)

_row = st.tuples(st.sampled_from(GAPS), st.sampled_from(USERS), st.sampled_from(IPS),
                 st.sampled_from(ROUTES), st.sampled_from(STATUSES), st.sampled_from(METHODS),
                 st.sampled_from(AGENTS))


def _to_events(rows) -> list[dict]:
    t = 1000.0
    out = []
    for i, (gap, user, ip, route, status, method, ua) in enumerate(rows):
        t += gap
        out.append({"id": f"x{i}", "ts": t, "user": user, "src_ip": ip, "route": route,
                    "status": status, "method": method, "ua": ua})
    return out


def event_lists(min_size: int = 0, max_size: int = 60):
    """Sorted streams (times ascending, ties allowed) of MIXED_PACK-relevant events."""
    return st.lists(_row, min_size=min_size, max_size=max_size).map(_to_events)


def arrival(events: list[dict], jitter: list[float]) -> list[dict]:
    """Events in arrival order `ts + jitter`: with jitter in [0, L] no event arrives
    more than L seconds after a later-stamped one."""
    order = sorted(range(len(events)), key=lambda i: (events[i]["ts"] + jitter[i], i))
    return [events[i] for i in order]


def max_disorder(events: list[dict]) -> float:
    """How far (seconds) the most late event is behind the newest one seen before it."""
    worst = 0.0
    newest = float("-inf")
    for e in events:
        if newest - e["ts"] > worst:
            worst = newest - e["ts"]
        newest = max(newest, e["ts"])
    return worst


def stable_sorted(events: list[dict]) -> list[dict]:
    """The sorted stream a reordered one stands for: by time, ties in arrival order."""
    return sorted(events, key=lambda e: e["ts"])
