"""1/10-scale car dynamics: a single-track (bicycle) model with saturating tires.

Pure functions of a frozen `CarParams` (after f1tenth_gym's split of physics and
env). The model is the dynamic bicycle with a simplified Pacejka lateral tire and a friction
circle per axle, so the car cannot corner harder than mu·g and braking while turning costs grip —
the skills a racing policy must learn. Below ~1.5 m/s it blends into the kinematic bicycle,
which has no singularity at standstill and lets reverse (recovery) work.

Actuation mirrors a hobby car: the ESC tracks a target *wheel speed* with limited acceleration and
braking (a[0]), and the servo slews toward a target steering angle at a limited rate (a[1]). The
drivetrain is 4WD with the longitudinal force split by static axle load.

Units: m, s, rad, kg, N. Body frame x forward, y left; yaw CCW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from fastrlap.config import VehicleConfig
from fastrlap.types import GRAVITY

G = GRAVITY  # m/s^2


@dataclass(frozen=True)
class CarParams:
    wheelbase: float = 0.33  # m, axle to axle
    cg_to_front: float = 0.16  # m, centre of gravity to front axle
    mass: float = 3.5  # kg
    yaw_inertia: float = 0.045  # kg·m², about the vertical axis through the CG
    length: float = 0.52  # m, bumper to bumper (collision footprint)
    width: float = 0.30  # m, collision footprint
    max_steer: float = 0.45  # rad, servo end stop
    steer_rate: float = 5.0  # rad/s, servo slew rate
    max_speed: float = 6.0  # m/s, ESC speed limit (forward)
    max_reverse: float = 1.2  # m/s, ESC speed limit (reverse; recovery backs out slowly)
    accel: float = 5.0  # m/s², how fast the ESC spins the wheels up
    brake: float = 8.0  # m/s², how fast the ESC slows the wheels down
    mu: float = 0.9  # tire-road friction on the track surface
    mu_offtrack: float = 0.55  # on grass / off the track
    rolling: float = 0.02  # rolling resistance as a fraction of weight, on track
    rolling_offtrack: float = 0.12  # off track (grass drags)
    drag: float = 0.03  # N/(m/s)², aerodynamic drag coefficient
    tire_b: float = 8.0  # Pacejka stiffness factor for slip angle (1/rad)
    tire_b_long: float = 10.0  # Pacejka stiffness factor for slip ratio
    tire_c: float = 1.25  # Pacejka shape factor (mild fall-off past the peak)
    rear_stiffness: float = (
        1.3  # rear/front cornering stiffness ratio: > 1 makes the car understeer at the limit, as set-up RC cars do
    )
    kinematic_below: float = 0.5  # m/s: pure kinematic model below this speed
    dynamic_above: float = 1.0  # m/s: pure dynamic model above this speed

    @property
    def cg_to_rear(self) -> float:
        return self.wheelbase - self.cg_to_front

    @property
    def load_front(self) -> float:
        """Static normal force on the front axle, N."""
        return self.mass * G * self.cg_to_rear / self.wheelbase

    @property
    def load_rear(self) -> float:
        return self.mass * G * self.cg_to_front / self.wheelbase


def car_params(cfg: VehicleConfig) -> CarParams:
    """Physical limits that follow the vehicle config's action mapping (top speed, steering lock)."""
    return CarParams(max_steer=cfg.max_steer, max_speed=cfg.speed_bias + cfg.speed_scale)


class CarState(NamedTuple):
    x: float  # m, world
    y: float  # m, world
    yaw: float  # rad
    vx: float  # m/s, body frame forward
    vy: float  # m/s, body frame left
    yaw_rate: float  # rad/s
    steer: float  # rad, actual front wheel angle
    wheel_speed: float  # m/s, wheel surface speed (what the encoder measures)


class Surface(NamedTuple):
    """Grip under each axle, looked up by the world from the track."""

    mu_front: float
    mu_rear: float
    rolling: float  # fraction of weight


def servo(steer: float, target: float, p: CarParams, dt: float) -> float:
    """Rate-limited servo toward `target`, clipped to the end stops."""
    target = max(-p.max_steer, min(p.max_steer, target))
    step = p.steer_rate * dt
    return steer + max(-step, min(step, target - steer))


def esc(wheel_speed: float, target: float, p: CarParams, dt: float) -> float:
    """Wheel speed tracking the target with limited spin-up and braking (reverse allowed)."""
    target = max(-p.max_reverse, min(p.max_speed, target))
    diff = target - wheel_speed
    speeding_up = abs(target) > abs(wheel_speed) and target * wheel_speed >= 0
    rate = (p.accel if speeding_up else p.brake) * dt
    return wheel_speed + max(-rate, min(rate, diff))


def tire(slip: float, mu_load: float, b: float, c: float) -> tuple[float, float]:
    """Simplified Pacejka force (N) for a slip angle (rad) or slip ratio, and its slope.

    The force saturates near mu·Fz. The slope dF/d(slip) is floored at 0 past the peak; it is
    used only to make the integration implicit (stable), never as a force.
    """
    bs = b * slip
    angle = c * math.atan(bs)
    slope = mu_load * math.cos(angle) * c * b / (1.0 + bs * bs)
    return mu_load * math.sin(angle), (slope if slope > 0.0 else 0.0)


def _friction_circle(fx: float, fy: float, limit: float) -> tuple[float, float, float]:
    """Scale (fx, fy) back onto the friction circle of radius `limit`; also return the scale."""
    mag = math.hypot(fx, fy)
    if mag > limit and mag > 0.0:
        k = limit / mag
        return fx * k, fy * k, k
    return fx, fy, 1.0


def _clip(x: float, limit: float) -> float:
    return max(-limit, min(limit, x))


def blend_weight(speed: float, p: CarParams) -> float:
    """0 = kinematic model, 1 = dynamic model."""
    lo, hi = p.kinematic_below, p.dynamic_above
    return min(1.0, max(0.0, (abs(speed) - lo) / (hi - lo)))


def step(s: CarState, target_speed: float, target_steer: float, surface: Surface, p: CarParams, dt: float) -> CarState:
    """Advance the car by one physics sub-step `dt` (s).

    The lateral/yaw tire dynamics of a 1/10 car are stiff (yaw time constant ~3 ms at 1.5 m/s,
    shorter than a 100 Hz sub-step), so (vy, yaw rate) are advanced with linearly implicit Euler:
    the tire forces are linearised about the current slip and the 2x2 system solved, which is
    stable at any step size. The rest is semi-implicit Euler. Walls are resolved by the world
    afterwards (collisions are geometry, not tire physics).
    """
    steer = servo(s.steer, target_steer, p, dt)
    wheel = esc(s.wheel_speed, target_speed, p, dt)
    vx, vy, r = s.vx, s.vy, s.yaw_rate
    lf, lr = p.cg_to_front, p.cg_to_rear
    fzf, fzr = p.load_front, p.load_rear
    cos_d, sin_d = math.cos(steer), math.sin(steer)

    # Velocities of the tire contact patches in each wheel's own frame (front is steered).
    vfx_b, vfy_b = vx, vy + lf * r
    vfl = vfx_b * cos_d + vfy_b * sin_d
    vft = -vfx_b * sin_d + vfy_b * cos_d
    vrl, vrt = vx, vy - lr * r
    # Slip angles (lateral slip over rolling speed) and slip ratios (wheel surface speed vs
    # ground speed). Both saturate through the same Pacejka shape, then the friction circle
    # scales the pair, so a wheel spinning up loses side grip and a sliding car stays damped.
    bl, bf, br, c = p.tire_b_long, p.tire_b, p.tire_b * p.rear_stiffness, p.tire_c
    roll_f, roll_r = max(abs(vfl), 0.3), max(abs(vrl), 0.3)
    alpha_f = -math.atan2(vft, roll_f)
    alpha_r = -math.atan2(vrt, roll_r)
    den_f = max(abs(wheel), abs(vfl), 0.5)
    den_r = max(abs(wheel), abs(vrl), 0.5)
    kappa_f, kappa_r = (wheel - vfl) / den_f, (wheel - vrl) / den_r
    mf, mr = surface.mu_front * fzf, surface.mu_rear * fzr
    flf, slope_lf = tire(kappa_f, mf, bl, c)
    ftf, slope_tf = tire(alpha_f, mf, bf, c)
    flr, slope_lr = tire(kappa_r, mr, bl, c)
    ftr, slope_tr = tire(alpha_r, mr, br, c)
    flf, ftf, kf = _friction_circle(flf, ftf, mf)
    flr, ftr, kr = _friction_circle(flr, ftr, mr)
    fxf, fyf = flf * cos_d - ftf * sin_d, flf * sin_d + ftf * cos_d

    resist = surface.rolling * p.mass * G * math.tanh(vx / 0.05) + p.drag * vx * abs(vx)
    # Force accelerations in the body frame (the frame's own rotation is applied exactly below).
    ax = (fxf + flr - resist) / p.mass
    ay = (fyf + ftr) / p.mass
    ar = (lf * fyf - lr * ftr) / p.yaw_inertia

    # Longitudinal slip is stiff too: implicit in vx (d ax / d vx through the slip ratios).
    jxx = -(kf * slope_lf * cos_d * cos_d / den_f + kr * slope_lr / den_r) / p.mass
    dvx = dt * ax / (1.0 - dt * jxx)
    # Jacobian of (ay, ar) with respect to (vy, r) through the slip angles.
    gf = roll_f / (roll_f * roll_f + vft * vft)
    gr = roll_r / (roll_r * roll_r + vrt * vrt)
    cf = kf * slope_tf * gf * cos_d * cos_d
    cr = kr * slope_tr * gr
    j11 = -(cf + cr) / p.mass
    j12 = (-cf * lf + cr * lr) / p.mass
    j21 = (-lf * cf + lr * cr) / p.yaw_inertia
    j22 = (-lf * lf * cf - lr * lr * cr) / p.yaw_inertia
    a11, a12, a21, a22 = 1.0 - dt * j11, -dt * j12, -dt * j21, 1.0 - dt * j22
    det = a11 * a22 - a12 * a21
    b1, b2 = dt * ay, dt * ar
    dvy = (b1 * a22 - a12 * b2) / det
    r_dyn = r + (a11 * b2 - a21 * b1) / det
    # The body frame turns by r·dt during the step: rotate the velocity exactly (an explicit
    # Coriolis term would pump energy into a spinning car).
    turn = r * dt
    ct, st = math.cos(turn), math.sin(turn)
    vx_new = ct * vx + st * vy + dvx
    vy_dyn = -st * vx + ct * vy + dvy

    # Kinematic bicycle at low speed: no slip, yaw rate set by the geometry (L / tan δ). The pull
    # toward it is limited to what the tires could deliver, so a car sliding down through the
    # blend band does not register a fake impact on the IMU.
    w = blend_weight(math.hypot(vx_new, vy_dyn), p)
    r_kin = vx_new * math.tan(steer) / p.wheelbase
    vy_kin = r_kin * lr
    grip_dv = max(surface.mu_front, surface.mu_rear) * G * dt
    vy_new = vy_dyn + _clip((1.0 - w) * (vy_kin - vy_dyn), grip_dv)
    r_new = r_dyn + _clip((1.0 - w) * (r_kin - r_dyn), 2.0 * grip_dv / p.wheelbase)

    yaw = s.yaw + r_new * dt
    c, sn = math.cos(yaw), math.sin(yaw)
    x = s.x + (vx_new * c - vy_new * sn) * dt
    y = s.y + (vx_new * sn + vy_new * c) * dt
    return CarState(x, y, yaw, vx_new, vy_new, r_new, steer, wheel)


def footprint(s: CarState, p: CarParams) -> list[tuple[float, float]]:
    """World coordinates of the four footprint corners: front-left, front-right, rear-right, rear-left.

    The footprint is centred on the CG (the CG sits a few cm off the middle of the bumpers on a
    real car, which does not matter for contacts).
    """
    c, sn = math.cos(s.yaw), math.sin(s.yaw)
    hl, hw = p.length / 2, p.width / 2
    return [(s.x + lx * c - ly * sn, s.y + lx * sn + ly * c) for lx, ly in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw))]
