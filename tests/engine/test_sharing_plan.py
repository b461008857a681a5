"""The window-sharing plan (`sleuth explain PACK --pack`): which sliding window rules could share a per-key store.

Rules group by stream and key expressions; tumbling windows and lone rules
stay out; the slice is the gcd of 1/60 of each span; aggregates with the same
text over the same `where` are listed as computed once.
"""

from __future__ import annotations

import subprocess
import sys

from corpus import compile_rules

from sleuth.dsl.lower import sharing_text

META = 'meta { ttp = "credential-stuffing"  goal = "account-takeover"  severity = high  title = "t" }'
RULES = f"""
rule a {{ {META} by src_ip window 1m where status == 401 having count() >= 5 }}
rule b {{ {META} by src_ip window 10m where status == 401 having count() >= 50 and distinct(user) >= 3 }}
rule c {{ {META} by src_ip window 90s having distinct(user) >= 9 }}
rule d {{ {META} by user window 10m having count() >= 5 }}
rule e {{ {META} by src_ip window 10m tumbling having count() >= 5 }}
"""


def test_groups_slices_and_shared_aggregates():
    pack = compile_rules(RULES)
    assert pack.sharing == (
        ("events", "src_ip", 0.5, (
            ("a", 60.0, "status == 401", ("count()",)),
            ("b", 600.0, "status == 401", ("count()", "distinct(user)")),
            ("c", 90.0, "true", ("distinct(user)",)),
        )),
    )
    assert sharing_text(pack.sharing).splitlines()[2:] == [
        "  store 1: by src_ip (events), 3 rules, spans 1m..10m, slice 500ms",
        "    a                                       1m  1 aggregate(s)",
        "    b                                      10m  2 aggregate(s)",
        "    c                                      90s  1 aggregate(s)",
        "    buffers per key: 3 -> 1; aggregate updates per event: 4 -> 3",
        "    once: count() over where status == 401: a, b",
        "  in all: 3 rules in 1 stores; aggregate updates 4 -> 3",
    ]


def test_no_sharing_is_said():
    pack = compile_rules(f"rule d {{ {META} by user window 10m having count() >= 5 }}")
    assert pack.sharing == ()
    assert sharing_text(pack.sharing) == (
        "window state sharing: no two sliding window rules key by the same expressions\n")


def test_explain_pack_option(tmp_path):
    (tmp_path / "r.ttp").write_text(RULES)
    r = subprocess.run([sys.executable, "-m", "sleuth.playground.cli", "explain", str(tmp_path), "--pack"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == sharing_text(compile_rules(RULES).sharing)
