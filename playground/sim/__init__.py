"""``sleuth simulate``: seeded, realistic, labelled API traffic for a retail and banking API.

Public surface: ``SimConfig``, ``generate`` (in memory), ``write`` (to a directory),
``Simulation``, and the catalogues ``TTPS``, ``GOALS``, ``ATTACK_KINDS`` and
``TRAP_KINDS``. See ``docs/simulator.md`` for the world model and label formats.
"""

from .attack import ATTACK_KINDS as ATTACK_KINDS
from .attack import AttackKind as AttackKind
from .simulation import TRAP_KINDS as TRAP_KINDS
from .simulation import SimConfig as SimConfig
from .simulation import Simulation as Simulation
from .simulation import generate as generate
from .simulation import write as write
from .world import GOALS as GOALS
from .world import TTPS as TTPS

__all__ = ["ATTACK_KINDS", "GOALS", "TRAP_KINDS", "TTPS", "AttackKind", "SimConfig", "Simulation", "generate", "write"]
