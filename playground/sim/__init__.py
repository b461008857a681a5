"""``sleuth simulate``: seeded, realistic, labelled API traffic for a retail and banking API.

Public surface: ``SimConfig``, ``generate`` (in memory), ``write`` (to a directory),
``Simulation``, and the catalogues ``TTPS``, ``GOALS``, ``ATTACK_KINDS`` and
``TRAP_KINDS``. See ``docs/simulator.md`` for the world model and label formats.
"""

from .accesslog import access_log_lines as access_log_lines
from .attack import ATTACK_KINDS as ATTACK_KINDS
from .kit import AttackKind as AttackKind
from .simulation import TRAP_KINDS as TRAP_KINDS
from .simulation import WORLD_TRAP_KINDS as WORLD_TRAP_KINDS
from .simulation import WORLDS as WORLDS
from .simulation import SimConfig as SimConfig
from .simulation import Simulation as Simulation
from .simulation import default_generators as default_generators
from .simulation import generate as generate
from .simulation import trap_kinds as trap_kinds
from .simulation import write as write
from .world import GOALS as GOALS
from .world import TTPS as TTPS
from .worlds import FEATURES as FEATURES
from .worlds import WorldSpec as WorldSpec

__all__ = ["ATTACK_KINDS", "FEATURES", "GOALS", "TRAP_KINDS", "TTPS", "WORLDS", "WORLD_TRAP_KINDS", "AttackKind",
           "SimConfig", "Simulation", "WorldSpec", "access_log_lines", "default_generators", "generate", "trap_kinds",
           "write"]
