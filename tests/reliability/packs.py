"""Rule packs and event streams shared by the reliability tests.

`MULTI` exercises every stateful machine at once: a sequence with a
repeat, a reference, an `until`, an absence between steps and suppression;
a sequence with a trailing absence; sliding, tumbling (with baseline) and
session windows with several aggregates; first_seen; a keyed single-event
rule; and a `from matches` rule reading the others. `stream(seed, n)`
generates events that make all of them fire, with distinct timestamps and
explicit ids (so a shuffled stream carries the same ids).
"""

from __future__ import annotations

import random

MULTI = '''
macro login_fail = route == "/login" and status in (401, 403)

rule ato {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = high title = "ato" }
  by user
  within 5m
  sequence {
    fails:  login_fail repeat >= 3
    ok:     route == "/login" and status == 200
    change: route == "/account/email" and src_ip != fails.src_ip
  }
  until route == "/logout"
  unless mfa: route == "/mfa" between ok and change
  emit { first_ip = fails.src_ip, new_ip = change.src_ip }
  suppress 2m
}

rule reset_abandoned {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = medium title = "reset" }
  by user
  within 5m
  sequence {
    req: route == "/reset" repeat 2
  }
  unless done: route == "/done" after req within 30s
}

rule burst {
  meta { ttp = "scraping" goal = "scraping" severity = low title = "burst" }
  by src_ip
  window 1m
  having count() >= 8 and distinct(user) >= 3 and ratio(status >= 400) > 0.2
  emit { n = count(), users = sample(user, 3), bytes = sum(resp_bytes), slowest = max(latency_ms) }
  refire cooldown 30s
}

rule steady {
  meta { ttp = "sustained-volume" goal = "disruption" severity = low title = "steady" }
  by user
  window 1m tumbling
  having count() >= 5 or count() > 2 * baseline(count(), 5m)
  emit { n = count(), ch = changes(route), top = sample(route, 2) }
}

rule session_heavy {
  meta { ttp = "scraping" goal = "scraping" severity = medium title = "session" }
  by src_ip
  window session gap 30s
  having count() >= 6 and max(resp_bytes) > 4000
  emit { n = count(), avg_bytes = avg(resp_bytes), rate = rate() }
}

rule new_ip {
  meta { ttp = "account-takeover" goal = "account-takeover" severity = low title = "new ip" }
  by user
  window 10m
  where route == "/account/email"
  having first_seen(src_ip, 1h) and count() >= 2
}

rule admin_denied {
  meta { ttp = "enumeration" goal = "fraud" severity = medium title = "admin" }
  by user
  when route == "/admin" and status == 403
  suppress 1m by src_ip
}

rule campaign {
  meta { ttp = "campaign" goal = "account-takeover" severity = critical title = "campaign" }
  from matches
  by user
  window 10m
  having count() >= 2
}
'''

USERS = [f"u{i}" for i in range(8)]
IPS = [f"10.0.{i // 4}.{i % 4}" for i in range(10)]
ROUTES = ["/login"] * 6 + ["/account/email", "/mfa", "/logout", "/reset", "/reset", "/done", "/admin",
                            "/products", "/products", "/search"]


def stream(seed: int, n: int, *, start: float = 1_700_000_000.0) -> list[dict]:
    """`n` events with strictly increasing times (gaps 1 ms .. 40 s) and ids `e<i>`."""
    rnd = random.Random(seed)
    t = start
    out = []
    for i in range(n):
        t += rnd.choice((0.001, 0.25, 0.5, 1.0, 1.0, 2.0, 3.0, 7.0, 15.0, 40.0))
        t = round(t, 3)
        route = rnd.choice(ROUTES)
        status = 200
        if route == "/login":
            status = rnd.choice((200, 401, 401, 403))
        elif route == "/admin":
            status = rnd.choice((200, 403))
        elif rnd.random() < 0.1:
            status = rnd.choice((404, 429, 500))
        out.append({
            "id": f"e{i}", "ts": t, "user": rnd.choice(USERS), "src_ip": rnd.choice(IPS),
            "method": "POST" if route in ("/login", "/account/email", "/reset") else "GET",
            "route": route, "path": route, "status": status,
            "resp_bytes": rnd.choice((100, 500, 2000, 5000, 9000)),
            "latency_ms": round(rnd.uniform(1, 900), 3),
        })
    return out
