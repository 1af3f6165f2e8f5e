"""ybstate: an executable, checkable model of tenant backup, point-in-time restore and
standby promotion for YaoBase (OceanBase 0.4 family).

Layers, importing one way only: ``kernel`` (shapes every model shares) <- ``cluster``
(the substrate) <- the subsystems (``dag``, ``backup``, ``archive``, ``restore``,
``promote``, ``access``) <- ``model`` (the composition root) <- ``codec``, ``store``,
``commands``, ``api``, ``drivers``, ``scenario``, ``history`` <- ``cli``. The import
contracts in pyproject.toml hold the code to it (docs/architecture.md draws it).
"""

from ybstate.kernel import Invariant, Spec, Violation

__all__ = ["Invariant", "Spec", "Violation", "__version__"]

__version__ = "0.1.0"
