"""One reconcile's wiring of the core and the registry: read, plan, pre-flight.

prepare.py holds the wiring and its options, gates.py the promotion gates' reads and
verdicts, gate_history.py what the file's git history says for them. The names callers
use are importable from here.
"""

from controller.reconcile.prepare import DriftMode, Options, fingerprint, in_scope, prepare_plan

__all__ = ["DriftMode", "Options", "fingerprint", "in_scope", "prepare_plan"]
