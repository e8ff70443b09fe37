"""Whether the learner keeps its update-to-data ratio in real time, and the line that says when not.

On a car the learner runs beside the control loop (ThreadedLearner) and the car drives on at the
control rate whether the learner keeps up or not. On a computer too slow for `agent.utd_ratio`
the update blocks pile up: the car then learns from fewer updates per second of driving than the
ratio promises, so it improves more slowly than the same settings did in the simulator (whose
learner never falls behind: the simulated clock waits for it). Nothing breaks, which is why it
must be said: the operator sees it on the dashboard and the console, and events.jsonl records
when it began and ended, with what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

BEHIND_S = 5.0  # s of driving the learner's updates may trail before it counts as not keeping up
CAUGHT_UP_S = 1.0  # ... and it counts as keeping up again once it trails by less than this


@dataclass
class PaceChange:
    """The learner just fell behind (`behind`) or caught up again (not `behind`)."""

    behind: bool
    lag_s: float  # s of driving whose update blocks were still to run


class LearnerPace:
    """Watches the learner's backlog (UTD blocks owed, `lag`) tick by tick."""

    def __init__(self, control_hz: float, utd_ratio: int) -> None:
        self.control_hz = control_hz
        self.utd_ratio = utd_ratio
        self.behind = False
        self.lag_s = 0.0

    def check(self, lag_blocks: int) -> PaceChange | None:
        """Record the backlog now; a change of state (with hysteresis, so a backlog hovering at
        the threshold is reported once) is returned for the caller to log."""
        self.lag_s = lag_blocks / self.control_hz
        if not self.behind and self.lag_s >= BEHIND_S:
            self.behind = True
            return PaceChange(True, self.lag_s)
        if self.behind and self.lag_s < CAUGHT_UP_S:
            self.behind = False
            return PaceChange(False, self.lag_s)
        return None

    @property
    def message(self) -> str:
        """What the displays show while the learner trails, "" while it keeps up."""
        if not self.behind:
            return ""
        return (
            f"learner {self.lag_s:.0f} s behind: this computer cannot run UTD {self.utd_ratio} in real time "
            f"(lower agent.utd_ratio, or run the learner on a faster computer: learner=tcp://HOST:PORT)"
        )
