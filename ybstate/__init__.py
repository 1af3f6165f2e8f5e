"""ybstate: an executable, checkable model of tenant backup, point-in-time restore and
standby promotion for YaoBase (OceanBase 0.4 family).

Layers, importing one way only: ``kernel`` and ``cluster`` (the pure core) <- ``codec`` and
``store`` (histories in DuckDB or memory) <- ``drivers`` and ``scenario`` (simulator,
explorer, scenario runner) <- ``cli``.
"""

from ybstate.kernel import Invariant, Spec, Violation

__all__ = ["Invariant", "Spec", "Violation", "__version__"]

__version__ = "0.1.0"
