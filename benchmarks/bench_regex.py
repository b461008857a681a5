"""`=~` per search: RE2 (google-re2, through engine/regex.py) against Python's re, in one process.

Run: python benchmarks/bench_regex.py. Prints microseconds per search and the
RE2/re ratio for typical values (a browser user agent, an API path) and for
hostile ones (64 KiB, the normaliser's default string cut). Ratios, not times,
are what to compare between machines.
"""

from __future__ import annotations

import time

from sleuth.engine import regex

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36")
CASES = [
    ("literal, user agent", "sqlmap", UA),
    ("alternation, user agent", "Googlebot|bingbot|Applebot|DuckDuckBot", UA),
    ("anchored class, user agent", r"^Mozilla\/5\.0 \(([^)]*)\)", UA),
    ("class, short param", r"[^0-9]", "12345"),
    ("literal, 64 KiB", "sqlmap", "a" * 65536),
    ("a{1,100}b, 64 KiB", "a{1,100}b", "a" * 65536),
    ("[a-z]+x, 64 KiB (re2 only: refused without it)", "[a-z]+x", "a" * 65536),
]


def per_search(matcher, value: str, budget: float = 0.3) -> float:
    n, t0 = 0, time.process_time()
    while True:
        for _ in range(10):
            matcher(value)
        n += 10
        dt = time.process_time() - t0
        if dt >= budget:
            return dt / n * 1e6


def main() -> None:
    if regex.ENGINE != "re2":
        print("google-re2 is not installed: nothing to compare (pip install 'sleuth[re2]')")
        return
    print(f"{'case':52} {'re µs':>10} {'re2 µs':>10} {'re2/re':>8}")
    for name, pattern, value in CASES:
        r2 = regex.compile_matcher(pattern, engine="re2")
        py = regex.compile_matcher(pattern, engine="re")
        t2 = min(per_search(r2, value) for _ in range(3))
        if "re2 only" in name:
            tp = per_search(py, value[:4096], budget=0.5) * (len(value) / 4096) ** 2   # quadratic: extrapolated
            print(f"{name:52} {tp:>10.0f} {t2:>10.2f} {t2 / tp:>8.5f}  (re extrapolated from 4 KiB)")
            continue
        tp = min(per_search(py, value) for _ in range(3))
        print(f"{name:52} {tp:>10.2f} {t2:>10.2f} {t2 / tp:>8.2f}")


if __name__ == "__main__":
    main()
