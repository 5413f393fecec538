"""Should a worker run? Its client limits and quiet rule, with hysteresis against flapping.

`within_limits()` is the plain client rule. A `Gate` adds the spec's hysteresis: a running
worker stops only once the client count is `clients` past a limit (the deadband), and any
crossing must last `hold_s` before it counts. Quiet mode, opening hours, leadership and
`enabled` act at once: they are commands.
"""

from __future__ import annotations

from rooms.supervisor.spec import TaskSpec


def within_limits(spec: TaskSpec, clients: int, slack: int = 0) -> bool:
    """`min_ws_clients <= clients <= max_ws_clients`, each limit widened by `slack`."""
    if clients < spec.min_ws_clients - slack:
        return False
    return spec.max_ws_clients is None or clients <= spec.max_ws_clients + slack


class Gate:
    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.open = False  # the decided state: the worker should run
        self._since: float | None = None  # when the count first said otherwise
        # The side of the limits the count last closed the gate from (None: never).
        self.left_by: str | None = None

    def decide(self, clients: int, quiet: bool, now: float, *, halted: bool = False) -> bool:
        """Whether the worker should run now. `halted`: a command stops it at once (the
        room is closed, or this process is not the stream leader)."""
        spec = self.spec
        if not spec.enabled or halted or (quiet and not spec.ignore_quiet):
            self.open, self._since = False, None
            return False
        # Inside the limits to start; outside them by more than the deadband to stop.
        slack = spec.hysteresis.clients if self.open else 0
        verdict = within_limits(spec, clients, slack)
        if verdict == self.open:
            self._since = None
        elif self._since is None and spec.hysteresis.hold_s > 0:
            self._since = now
        elif self._since is None or now - self._since >= spec.hysteresis.hold_s:
            self.open, self._since = verdict, None
            if not verdict:
                self.left_by = ("too_few_listeners" if clients < spec.min_ws_clients
                                else "too_many_listeners")
        return self.open

    def next_change_at(self) -> float | None:
        """When a pending crossing will have lasted `hold_s` (None: nothing pending)."""
        return None if self._since is None else self._since + self.spec.hysteresis.hold_s
