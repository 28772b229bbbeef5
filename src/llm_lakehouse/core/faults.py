"""Named fault points, for the fault-injection tests: a job dies exactly where a test asks it to.

``LAKEHOUSE_FAULT=<point>`` makes the process kill itself with SIGKILL when it reaches ``<point>`` (no
``finally``, no cleanup: what a node loss or the OOM killer does). With ``LAKEHOUSE_FAULT_MODE=raise`` it
raises ``InjectedFault`` instead, so a test can crash a job running inside its own process at the same point.
Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "LAKEHOUSE_FAULT"
MODE_ENV = "LAKEHOUSE_FAULT_MODE"


class InjectedFault(BaseException):  # noqa: N818 - not an error of the code under test
    """Raised at a fault point in ``raise`` mode; a BaseException so no ``except Exception`` swallows it."""


def point(name: str) -> None:
    if os.environ.get(FAULT_ENV) != name:
        return
    if os.environ.get(MODE_ENV) == "raise":
        raise InjectedFault(name)
    os.kill(os.getpid(), signal.SIGKILL)
