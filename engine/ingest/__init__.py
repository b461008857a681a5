"""sleuth.engine.ingest: the stage before the rules, bytes -> records -> canonical events.

Readers (`source.py`, access logs in `accesslog.py`) decode inputs into
records; the normaliser (`normalize.py`, with event times in `timestamp.py`,
user mappings in `mapping.py` and route templating in `openapi.py`) turns a
record into the canonical event of `engine/schema.py`; enrichers
(`enrich.py`) add fields. Whatever cannot become an event goes to the one
quarantine (`engine/quarantine.py`): a reader yields a `Bad` in its place,
the normaliser raises `BadInput` (also for a `Bad` fed to the engine).
"""

from ..quarantine import Bad as Bad
from ..quarantine import BadInput as BadInput
from .accesslog import parse_access_line as parse_access_line
from .enrich import DEFAULT_PREFIXES as DEFAULT_PREFIXES
from .enrich import Enricher as Enricher
from .enrich import Prefix as Prefix
from .enrich import PrefixTable as PrefixTable
from .enrich import chain as chain
from .mapping import load_mapping as load_mapping
from .mapping import parse_mapping as parse_mapping
from .normalize import Normalizer as Normalizer
from .normalize import parse_query as parse_query
from .openapi import UNMATCHED as UNMATCHED
from .openapi import HeuristicTemplater as HeuristicTemplater
from .openapi import OpenAPI as OpenAPI
from .source import FORMATS as FORMATS
from .source import Reader as Reader
from .source import open_source as open_source
from .source import sniff_format as sniff_format
from .timestamp import parse_time as parse_time

__all__ = ["Bad", "BadInput", "parse_access_line", "DEFAULT_PREFIXES", "Enricher", "Prefix", "PrefixTable",
           "chain", "load_mapping", "parse_mapping", "Normalizer", "parse_query", "UNMATCHED",
           "HeuristicTemplater", "OpenAPI", "FORMATS", "Reader", "open_source", "sniff_format", "parse_time"]
