"""The simulated world: steps the car's dynamics, resolves collisions, produces sensor readings.

One `step` is one control tick: the command is held for `physics_hz / control_hz` sub-steps
(>= 100 Hz). Walls are the track edges where a barrier stands, tested through the track's
continuous lateral offset, so nothing tunnels at top speed (a 6 m/s car moves 3 cm per 200 Hz
sub-step; the offset is exact wherever it is). A contact applies an inelastic impulse at the
touching corner — the normal velocity is removed, the car yaws — and the velocity jump shows on
the IMU as an acceleration spike, as it does on a real car.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from fastrlap.config import SimConfig
from fastrlap.sim.dynamics import CarParams, CarState, G, Surface, footprint, step
from fastrlap.sim.track import Projection, Track
from fastrlap.types import Command, Pose

RESTITUTION = 0.15  # fraction of the normal speed bounced back off a wall
WALL_FRICTION = 0.4  # Coulomb friction between the bumper and a wall
MAX_DEPTH = 0.3  # m: deeper "penetrations" mean the car came round the end of a wall section


@dataclass(frozen=True)
class WorldReading:
    """What the sensors saw over one control tick (noise already applied where noted)."""

    t: float  # s, simulated time at the end of the tick
    state: CarState  # ground truth at the end of the tick
    accel: np.ndarray  # (3,) body-frame IMU acceleration incl. gravity, tick average, noisy
    gyro: np.ndarray  # (3,) body-frame rates, tick average, noisy
    wheel_speed: float  # m/s, noisy encoder reading
    pose_estimate: Pose  # noisy pose (what an external tracker or GPS would give)
    collision: bool  # a contact happened during the tick
    impact: float  # m/s, the largest velocity change caused by a contact during the tick
    on_track: bool  # the CG is within the drivable width


class World:
    def __init__(self, track: Track, params: CarParams, sim: SimConfig, control_hz: float, seed: int = 0) -> None:
        if sim.physics_hz < 100:
            raise ValueError(f"vehicle.sim.physics_hz={sim.physics_hz}: use at least 100 Hz sub-steps")
        self.track = track
        self.params = params
        self.sim = sim
        self.control_hz = float(control_hz)
        self.substeps = max(1, int(round(sim.physics_hz / control_hz)))
        self.dt = 1.0 / (self.control_hz * self.substeps)
        self.rng = np.random.default_rng(seed)
        self._obstacle_s = [track.project(*ob.center).s for ob in track.obstacles]
        self._half_diag = 0.5 * math.hypot(params.length, params.width)
        self.reset()

    # ------------------------------------------------------------------ episode control
    def reset(self, s: float | None = None, n: float = 0.0, heading: float = 0.0, speed: float = 0.0) -> CarState:
        """Place the car at arc length `s` (default: the start line), offset `n`, heading offset."""
        s = self.track.start if s is None else s
        x, y = self.track.point_at(s, n)
        yaw = self.track.heading_at(s) + heading
        self.state = CarState(float(x), float(y), yaw, speed, 0.0, 0.0, 0.0, speed)
        self.t = 0.0
        self._queue: deque[Command] = deque([Command(speed=speed, steer=0.0)] * self.sim.latency_ticks)
        return self.state

    # ------------------------------------------------------------------ stepping
    def step(self, command: Command) -> WorldReading:
        if not (math.isfinite(command.speed) and math.isfinite(command.steer)):
            raise ValueError(f"non-finite command {command}: the safety filter must catch this before the car")
        self._queue.append(command)
        cmd = self._queue.popleft()
        p, dt = self.params, self.dt
        s = self.state
        sum_ax = sum_ay = sum_r = 0.0
        impact = 0.0
        collided = False
        on_track = True
        pr = self.track.project(s.x, s.y)
        for _ in range(self.substeps):
            c0, s0 = math.cos(s.yaw), math.sin(s.yaw)
            vwx0, vwy0 = s.vx * c0 - s.vy * s0, s.vx * s0 + s.vy * c0
            surface, on_track = self._surface(s, pr)
            s = step(s, cmd.speed, cmd.steer, surface, p, dt)
            s, dv, pr = self._resolve_contacts(s)
            if dv > 0.0:
                collided = True
                impact = max(impact, dv)
            c1, s1 = math.cos(s.yaw), math.sin(s.yaw)
            vwx1, vwy1 = s.vx * c1 - s.vy * s1, s.vx * s1 + s.vy * c1
            awx, awy = (vwx1 - vwx0) / dt, (vwy1 - vwy0) / dt
            sum_ax += awx * c1 + awy * s1
            sum_ay += -awx * s1 + awy * c1
            sum_r += s.yaw_rate
        self.state = s
        self.t += self.substeps * dt
        k = 1.0 / self.substeps
        sim, rng = self.sim, self.rng
        accel = np.array([sum_ax * k, sum_ay * k, G]) + rng.normal(0.0, sim.imu_accel_noise, 3)
        gyro = np.array([0.0, 0.0, sum_r * k]) + rng.normal(0.0, sim.imu_gyro_noise, 3)
        pose = Pose(
            x=s.x + float(rng.normal(0.0, sim.pose_noise)),
            y=s.y + float(rng.normal(0.0, sim.pose_noise)),
            yaw=s.yaw + float(rng.normal(0.0, sim.yaw_noise)),
        )
        return WorldReading(
            t=self.t,
            state=s,
            accel=accel,
            gyro=gyro,
            wheel_speed=s.wheel_speed + float(rng.normal(0.0, sim.wheel_speed_noise)),
            pose_estimate=pose,
            collision=collided,
            impact=impact,
            on_track=on_track,
        )

    # ------------------------------------------------------------------ surface and contacts
    def _surface(self, s: CarState, pr: Projection) -> tuple[Surface, bool]:
        """Grip under each axle: the axle's lateral offset decides track or off-track ground."""
        tr, p = self.track, self.params
        nx, ny = tr.scalar_tables[2][pr.index], tr.scalar_tables[3][pr.index]
        along_normal = math.cos(s.yaw) * nx + math.sin(s.yaw) * ny
        half = tr.width / 2
        front_on = abs(pr.n + p.cg_to_front * along_normal) <= half
        rear_on = abs(pr.n - p.cg_to_rear * along_normal) <= half
        mu_f = p.mu if front_on else p.mu_offtrack
        mu_r = p.mu if rear_on else p.mu_offtrack
        cg_on = abs(pr.n) <= half
        rolling = p.rolling if cg_on else p.rolling_offtrack
        return Surface(mu_f, mu_r, rolling), cg_on

    def _resolve_contacts(self, s: CarState) -> tuple[CarState, float, Projection]:
        """Push the footprint out of walls and boxes.

        Returns the new state, the |Δv| the contacts caused, and the CG's projection (reused by
        the next sub-step's surface lookup: projection is the costliest scalar operation here).
        """
        tr = self.track
        pr = tr.project(s.x, s.y)
        nxs, nys = tr.scalar_tables[2], tr.scalar_tables[3]
        half = tr.width / 2
        contacts: list[tuple[float, float, float, float, float]] = []  # (px, py, nx, ny, depth)
        if abs(pr.n) + self._half_diag >= half:
            for cx, cy in footprint(s, self.params):
                cp = tr.project(cx, cy)
                if cp.n > half and tr.wall_left[cp.index] and cp.n - half < MAX_DEPTH:
                    contacts.append((cx, cy, -nxs[cp.index], -nys[cp.index], cp.n - half))
                elif cp.n < -half and tr.wall_right[cp.index] and -half - cp.n < MAX_DEPTH:
                    contacts.append((cx, cy, nxs[cp.index], nys[cp.index], -half - cp.n))
        for ob, s_ob in zip(tr.obstacles, self._obstacle_s):
            gap = abs((pr.s - s_ob + tr.length / 2) % tr.length - tr.length / 2)
            if (
                gap < ob.radius + self._half_diag + 0.5
                or math.hypot(s.x - ob.center[0], s.y - ob.center[1]) < ob.radius + self._half_diag
            ):
                contacts.extend(_box_contacts(s, self.params, ob.center, ob.size, ob.yaw))
        if not contacts:
            return s, 0.0, pr
        dv_max = 0.0
        for px, py, nx, ny, depth in contacts:
            s, dv = _impulse(s, self.params, px, py, nx, ny, depth)
            dv_max = max(dv_max, dv)
        return s, dv_max, tr.project(s.x, s.y)


def _impulse(
    s: CarState, p: CarParams, px: float, py: float, nx: float, ny: float, depth: float
) -> tuple[CarState, float]:
    """Inelastic contact at world point (px, py) with unit normal (nx, ny) pointing out of the wall."""
    c, sn = math.cos(s.yaw), math.sin(s.yaw)
    vwx, vwy = s.vx * c - s.vy * sn, s.vx * sn + s.vy * c
    rx, ry = px - s.x, py - s.y
    # Velocity of the contact point: v + ω × r.
    pvx, pvy = vwx - s.yaw_rate * ry, vwy + s.yaw_rate * rx
    vn = pvx * nx + pvy * ny
    x, y = s.x + nx * depth, s.y + ny * depth  # positional correction: out of the wall
    if vn >= 0.0:
        return s._replace(x=x, y=y), 0.0
    rn = rx * ny - ry * nx
    jn = -(1.0 + RESTITUTION) * vn / (1.0 / p.mass + rn * rn / p.yaw_inertia)
    tx, ty = -ny, nx
    vt = pvx * tx + pvy * ty
    rt = rx * ty - ry * tx
    jt = -vt / (1.0 / p.mass + rt * rt / p.yaw_inertia)
    jt = max(-WALL_FRICTION * jn, min(WALL_FRICTION * jn, jt))
    jx, jy = jn * nx + jt * tx, jn * ny + jt * ty
    vwx += jx / p.mass
    vwy += jy / p.mass
    r = s.yaw_rate + (rx * jy - ry * jx) / p.yaw_inertia
    vx, vy = vwx * c + vwy * sn, -vwx * sn + vwy * c
    return s._replace(x=x, y=y, vx=vx, vy=vy, yaw_rate=r), math.hypot(jx, jy) / p.mass


def _box_contacts(s: CarState, p: CarParams, center, size, yaw) -> list[tuple[float, float, float, float, float]]:
    """Contacts between the car's footprint and a box: corners of either inside the other."""
    out = []
    cb, sb = math.cos(yaw), math.sin(yaw)
    hx, hy = size[0] / 2, size[1] / 2
    for cx, cy in footprint(s, p):
        dx, dy = cx - center[0], cy - center[1]
        lx, ly = dx * cb + dy * sb, -dx * sb + dy * cb
        if abs(lx) < hx and abs(ly) < hy:
            if hx - abs(lx) < hy - abs(ly):
                sgn = 1.0 if lx > 0 else -1.0
                out.append((cx, cy, sgn * cb, sgn * sb, hx - abs(lx)))
            else:
                sgn = 1.0 if ly > 0 else -1.0
                out.append((cx, cy, -sgn * sb, sgn * cb, hy - abs(ly)))
    cc, sc = math.cos(s.yaw), math.sin(s.yaw)
    chx, chy = p.length / 2, p.width / 2
    for lx0, ly0 in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy)):
        bx, by = center[0] + lx0 * cb - ly0 * sb, center[1] + lx0 * sb + ly0 * cb
        dx, dy = bx - s.x, by - s.y
        lx, ly = dx * cc + dy * sc, -dx * sc + dy * cc
        if abs(lx) < chx and abs(ly) < chy:
            # The box corner pokes into the car: push the car away along its own face normal.
            if chx - abs(lx) < chy - abs(ly):
                sgn = -1.0 if lx > 0 else 1.0
                out.append((bx, by, sgn * cc, sgn * sc, chx - abs(lx)))
            else:
                sgn = -1.0 if ly > 0 else 1.0
                out.append((bx, by, -sgn * sc, sgn * cc, chy - abs(ly)))
    return out
