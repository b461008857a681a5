"""User field mappings (`--map user=actor.login`, `--mapping FILE`), part of ingest.

A mapping names, for a canonical field, the path in the input that holds it;
`Normalizer(mapping=...)` gives it priority over the field itself and the
built-in aliases. This module reads mappings from the command line and from
files (a JSON object, or `canonical = source.path` lines).
"""

from __future__ import annotations

import os

from ..schema import CANONICAL

__all__ = ["load_mapping", "parse_mapping"]

def parse_mapping(spec: str) -> tuple[str, str]:
    """``"user=actor.login"`` (a ``--map`` argument) -> ``("user", "actor.login")``.

    Raises ``ValueError`` when the form is wrong or the canonical name unknown.
    """
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise ValueError(f"mapping must look like 'canonical=source.path' (got {spec!r})")
    if name not in CANONICAL:
        raise ValueError(
            f"unknown canonical field {name!r} in mapping {spec!r} "
            f"(expected one of {', '.join(CANONICAL)})")
    return name, path


def load_mapping(path: str | os.PathLike) -> dict[str, str]:
    """Read a mapping file: a JSON object, or ``canonical = source.path`` lines.

    In the line form ``#`` starts a comment and blank lines are ignored.
    Raises ``ValueError`` (with the line number) on a malformed file.
    """
    import orjson

    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8-sig")
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        out = {}
        for k, v in obj.items():
            if not isinstance(v, str):
                raise ValueError(f"{path}: the source path of {k!r} must be a string")
            name, src = parse_mapping(f"{k}={v}")
            out[name] = src
        return out
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            name, src = parse_mapping(line)
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
        out[name] = src
    return out
