"""For `kopf run -m dockyard.sources.kubernetes.entry` (options from DOCKYARD_* variables).

`dockyard operator` runs the same handlers with command-line options.
"""

from __future__ import annotations

import kopf

from .operator import make_registry
from .options import OperatorOptions

registry, runtime_holder = make_registry(OperatorOptions.from_env())
kopf.set_default_registry(registry)
