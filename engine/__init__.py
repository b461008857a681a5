"""sleuth.engine: the runtime that evaluates compiled rule packs over event streams.

The embedding surface is small: `Engine(pack)` with `feed`, `close`,
`snapshot` and `Engine.restore`; matches are `Match` records; `SharedEngine`
serves many threads (docs/embedding.md). This package
never imports the language (`sleuth.dsl`) or Lark: it runs `PackSpec`s the
compiler built. Its vocabularies are defined once here: the event schema
(`schema.py`), the aggregates (`aggregate.REGISTRY`), durations
(`duration.py`); input reaches the rules through the ingest stage
(`sleuth.engine.ingest`), and all generated code through `pycode.py`.
"""

from .engine import Engine as Engine
from .errors import EngineError as EngineError
from .errors import SleuthError as SleuthError
from .errors import SnapshotError as SnapshotError
from .ingest.normalize import Normalizer as Normalizer
from .match import Match as Match
from .quarantine import BadInput as BadInput
from .quarantine import Quarantine as Quarantine
from .shared import SharedEngine as SharedEngine
from .spec import PackSpec as PackSpec

__all__ = ["Engine", "EngineError", "SleuthError", "SnapshotError", "Match", "BadInput", "Normalizer",
           "Quarantine", "PackSpec", "SharedEngine"]
