"""The traffic simulator behind ``sleuth simulate`` (implementation in ``sleuth.playground.sim``).

``generate(SimConfig(...))`` returns a ``Simulation`` (events in arrival order, labels,
traps, OpenAPI document, manifest); ``write(sim, outdir)`` writes ``events.jsonl``,
``labels.jsonl``, ``traps.jsonl``, ``openapi.json``, ``manifest.json`` and ``roles.tsv``
(``access_log=True``: also ``access.log`` and ``prefixes.csv``). ``SimConfig.world`` picks one
of ``WORLDS``.
"""

from .sim import ATTACK_KINDS as ATTACK_KINDS
from .sim import GOALS as GOALS
from .sim import TRAP_KINDS as TRAP_KINDS
from .sim import TTPS as TTPS
from .sim import WORLD_TRAP_KINDS as WORLD_TRAP_KINDS
from .sim import WORLDS as WORLDS
from .sim import AttackKind as AttackKind
from .sim import SimConfig as SimConfig
from .sim import Simulation as Simulation
from .sim import generate as generate
from .sim import write as write

__all__ = ["ATTACK_KINDS", "GOALS", "TRAP_KINDS", "TTPS", "WORLDS", "WORLD_TRAP_KINDS", "AttackKind", "SimConfig",
           "Simulation", "generate", "write"]
