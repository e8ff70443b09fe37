"""The live figures of a practice session, as one thread-safe object the page reads.

The session hands `ConsoleFeed.update` the tick's `LiveState` (practice/live_state.py: the same
figures the terminal dashboard shows, computed once) every tick; the feed adds only what the page
alone draws (the trail, where recoveries began, when each lap ended, the event log) and copies
it for the server at most `SNAPSHOT_HZ` times a second, or at once when an e-stop or the link
changes. The session forwards laps and events, and the web server's thread reads `snapshot()`
and `camera_jpeg()`. The camera frame is only referenced here and encoded to JPEG in the
server's thread, so the control loop never pays for the encoding; a page that nobody watches
costs the loop nothing beyond the copy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from fastrlap.practice.live_state import LiveState
from fastrlap.practice.supervisor import Mode
from fastrlap.types import LapRow

SNAPSHOT_HZ = 10.0  # live figures refreshed this often (wall time)
TRAIL_POINTS = 400  # recent car positions (control ticks) drawn on the map
EVENT_LINES = 60  # newest events kept for the page's log


@dataclass(frozen=True)
class TrackMap:
    """What the map draws under the car: the demo lap and the checkpoints (world metres)."""

    path: list[tuple[float, float]]
    checkpoints: list[tuple[float, float]]

    @staticmethod
    def from_arrays(path: np.ndarray, checkpoints: list[tuple[float, float]]) -> TrackMap:
        return TrackMap(
            path=[(round(float(x), 3), round(float(y), 3)) for x, y in path],
            checkpoints=[(round(float(x), 3), round(float(y), 3)) for x, y in checkpoints],
        )


@dataclass
class Figures:
    """One snapshot of the session, sent to the page as JSON."""

    live: bool  # a practice in progress (False: the replay of a finished run)
    mode: str = Mode.STARTING.value
    stop_reason: str = ""
    estop: str = ""  # the line of the operator stop holding the car (space key or console), "" otherwise
    estop_source: str = ""  # who holds it: only the console's own stop can be continued from the page
    speed: float = 0.0  # m/s
    laps: int = 0
    lap_times: list[float] = field(default_factory=list)  # s, in order
    lap_ends: list[float] = field(default_factory=list)  # s of practice at which each lap ended
    best_lap: float | None = None
    demo_lap: float | None = None
    oracle_lap: float | None = None
    practice_time: float = 0.0  # s
    total_time: float | None = None  # s of practice planned
    car: tuple[float, float, float] | None = None  # x, y (m), yaw (rad)
    trail: list[tuple[float, float]] = field(default_factory=list)
    recoveries: list[tuple[float, float]] = field(default_factory=list)  # where each pseudo-reset began
    updates_per_s: float = 0.0
    buffer: int = 0  # transitions in the replay buffer (demo and practice), as the dashboard shows
    link: str = ""  # the serial link's trouble ("serial link lost: PORT", waiting to confirm), "" while up
    learner_link: str = ""  # a learner on another machine: its link, weights version, backlog; "" for local
    learner_pace: str = ""  # the learner cannot keep its UTD in real time (and what to do), "" while it keeps up
    camera_age: float | None = None  # s between the newest frame and the newest observation
    frame: int = 0  # counts camera frames taken for the page (the page reloads the image when it changes)
    events: list[dict] = field(default_factory=list)  # newest last: {"t", "event", "text"}


def event_text(kind: str, data: dict) -> str:
    """One short line for the page's log ("mode LEARNING -> RECOVERY: crash (31.0 m/s²)")."""
    if kind == "mode":
        return f"{data.get('old')} -> {data.get('new')}: {data.get('reason', '')}"
    return ", ".join(f"{k} {v}" for k, v in data.items())


class ConsoleFeed:
    def __init__(
        self, track: TrackMap, demo_lap: float | None, oracle_lap: float | None, camera_fps: float, camera_width: int
    ) -> None:
        self.track = track
        self.camera_width = camera_width
        self._camera_period = 1.0 / camera_fps if camera_fps > 0 else math.inf
        self._lock = threading.Lock()
        self._fig = Figures(live=True, demo_lap=demo_lap, oracle_lap=oracle_lap)
        self._trail: deque[tuple[float, float]] = deque(maxlen=TRAIL_POINTS)
        self._events: deque[dict] = deque(maxlen=EVENT_LINES)
        self._recoveries: list[tuple[float, float]] = []
        self._lap_ends: list[float] = []
        self._last_mode: Mode | None = None
        self._shown_stop = ""
        self._next_snapshot = 0.0
        self._next_frame = 0.0
        self._frame: np.ndarray | None = None
        self._jpeg: tuple[int, bytes] | None = None

    # ------------------------------------------------------------------ written by the loop's thread
    def update(self, s: LiveState) -> None:
        if s.car is None:
            return
        point = (round(s.car.x, 3), round(s.car.y, 3))
        if s.mode == Mode.RECOVERY and self._last_mode != Mode.RECOVERY:
            with self._lock:
                self._recoveries.append(point)
        self._last_mode = s.mode
        # Every tick, so the trail follows the road in the simulator too, which outruns the wall clock.
        self._trail.append(point)
        now = time.monotonic()
        changed, self._shown_stop = s.urgent != self._shown_stop, s.urgent
        if now < self._next_snapshot and not changed:
            return
        self._next_snapshot = now + 1.0 / SNAPSHOT_HZ
        with self._lock:
            f = self._fig
            f.mode = s.mode.value
            f.stop_reason = s.stop_reason
            f.estop = s.estop
            f.estop_source = s.estop_source
            f.speed = round(s.speed, 2)
            f.laps = s.laps
            f.lap_times = [round(x, 3) for x in s.lap_times]
            f.lap_ends = list(self._lap_ends)
            f.best_lap = s.best_lap
            f.practice_time = round(s.practice_time, 2)
            f.total_time = s.total_time
            f.car = (*point, round(s.car.yaw, 3))
            f.trail = list(self._trail)
            f.recoveries = list(self._recoveries)
            f.updates_per_s = round(s.updates_per_s, 1)
            f.buffer = s.buffer
            f.link = s.link
            f.camera_age = None if s.camera_age is None else round(s.camera_age, 3)
            f.learner_link = s.learner_link
            f.learner_pace = s.learner_pace
            f.events = list(self._events)
            if now >= self._next_frame:
                self._next_frame = now + self._camera_period
                self._frame = s.frame
                f.frame += 1

    def lap(self, row: LapRow) -> None:
        """A completed lap (the session's lap callback): its end time places it on the chart."""
        with self._lock:
            self._lap_ends.append(round(float(row.practice_time_s), 2))

    def event(self, t: float, kind: str, data: dict) -> None:
        with self._lock:
            self._events.append({"t": round(float(t), 2), "event": kind, "text": event_text(kind, data)})

    # ------------------------------------------------------------------ read by the server's thread
    def snapshot(self) -> dict:
        with self._lock:
            return asdict(self._fig)

    def camera_jpeg(self) -> bytes | None:
        """The newest frame for the page as a downscaled JPEG (encoded once per frame)."""
        with self._lock:
            frame, number = self._frame, self._fig.frame
            if self._jpeg is not None and self._jpeg[0] == number:
                return self._jpeg[1]
        if frame is None:
            return None
        h, w = frame.shape[:2]
        scale = min(1.0, self.camera_width / w)
        small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            return None
        data = buf.tobytes()
        with self._lock:
            self._jpeg = (number, data)
        return data
