"""Typed configuration, registered in Hydra's ConfigStore and converted once at the CLI.

Code below the CLI receives these dataclasses, never raw dicts, so a setting is checked once here
rather than wherever it is read. Each field's comment states its meaning and unit: `fastrlap
<command> --help` prints those comments (fastrlap.settings), so keep them to one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from fastrlap.actions import to_command
from fastrlap.errors import ConfigError
from fastrlap.settings import check_finite, check_overrides, show
from fastrlap.types import Command

CAMERA_LOOKS = ("clean", "realistic")


@dataclass
class CameraConfig:
    """The simulated camera. `look` picks what it shows (fastrlap.sim.camera): `realistic`
    (texture, sun and shadow, changing light, auto-exposure, motion blur, lens, noise, JPEG,
    clutter: the default, because a real USB camera's frames are that hard) or `clean` (flat
    shading, even light, crisp lines: the look the shipped encoder was pretrained on)."""

    width: int = 128  # px
    height: int = 128  # px
    fov_deg: float = 100.0  # horizontal field of view, degrees
    mount_height: float = 0.22  # camera height above the ground, m (below the 0.25 m barriers the renderer assumes)
    pitch_deg: float = -20.0  # negative looks down, degrees
    brightness_jitter: float = 0.0  # max relative brightness change per episode (0 = off)
    noise_std: float = 0.0  # per-pixel Gaussian noise, in 0-255 units
    look: str = "realistic"  # realistic: texture, sun/shadow, exposure, lens, JPEG, clutter | clean: flat shading
    light_shift_deg: float = 0.0  # realistic look: the venue's light turned by this many degrees
    light_level: float = 1.0  # realistic look: the light of every episode scaled by this


@dataclass
class SimConfig:
    physics_hz: int = 100  # dynamics sub-steps per second (>= 100)
    latency_ticks: int = 0  # commands take effect this many control ticks late
    imu_accel_noise: float = 0.05  # m/s^2, std
    imu_gyro_noise: float = 0.005  # rad/s, std
    wheel_speed_noise: float = 0.02  # m/s, std
    pose_noise: float = 0.02  # m, std of the estimated position
    yaw_noise: float = 0.01  # rad, std of the estimated heading
    camera: CameraConfig = field(default_factory=CameraConfig)


@dataclass
class RealCameraConfig:
    """The car's camera (fastrlap.vehicle.camera); frames are resized to the policy resolution."""

    source: str = "0"  # device index ("0"), video file / URL, or GStreamer pipeline (contains "!")
    fps: float = 30.0  # requested capture rate, frames/s (files: playback rate; 0 = the source's own)
    stale_after: float = 0.5  # s without a new frame before the camera counts as stalled
    dead_after: float = 2.0  # s: a camera stalled this long ends the run (CameraStalled)


@dataclass
class PoseSourceConfig:
    """Where absolute pose comes from (fastrlap.vehicle.estimator); odometry + IMU always run."""

    source: str = "odometry"  # odometry | gps | external
    gps_port: str = "/dev/ttyACM1"  # NMEA 0183 GPS serial port (source=gps)
    gps_baud: int = 9600  # bit/s
    gps_uere: float = 2.5  # m of position std per unit of HDOP
    gps_origin: list[float] = field(default_factory=list)  # [lat, lon] deg of the local frame; [] = first fix
    udp_host: str = "127.0.0.1"  # address external poses arrive on (source=external); loopback = same machine only
    udp_port: int = 5600  # UDP port for external poses
    udp_key_file: str = ""  # file holding the shared key that signs external poses (HMAC-SHA256, >= 32 characters)
    udp_key: str = ""  # the shared key itself, instead of udp_key_file
    udp_max_age: float = 0.5  # s: an external pose stamped further than this from this machine's clock is rejected
    fix_timeout: float = 1.0  # s without an accepted fix before the pose source counts as silent


@dataclass
class RealConfig:
    """The physical car: serial link, camera, calibration, speed loop, pose source (vehicle=real)."""

    port: str = "/dev/ttyUSB0"  # motor-controller serial port
    baud: int = 115200  # bit/s, must match the firmware
    send_calibration: bool = False  # True: send the pulse calibration below at open (not stored in EEPROM)
    steer_min_us: int = 1000  # us, pulse at full right lock (steer permille -1000)
    steer_center_us: int = 1500  # us
    steer_max_us: int = 2000  # us, pulse at full left lock
    esc_min_us: int = 1000  # us, full brake/reverse
    esc_neutral_us: int = 1500  # us
    esc_max_us: int = 2000  # us, full forward
    throttle_limit: int = 350  # permille cap on host throttle, enforced by the firmware
    reverse_steer: bool = False  # positive host steer turns the wheels right: flip it
    reverse_throttle: bool = False  # positive host throttle drives backwards: flip it
    steer_full_lock: float = 0.45  # rad, front wheel angle at full lock (steer permille ±1000)
    wheel_diameter: float = 0.11  # m
    ticks_per_rev: float = 1.0  # encoder ticks per wheel revolution (magnets x gear ratio)
    imu_axes: list[str] = field(default_factory=lambda: ["x", "y", "z"])  # sensor axis for body x, y, z ("-y" flips)
    ff_gain: float = 60.0  # permille of throttle per m/s at steady state (speed loop feed-forward)
    ff_offset: float = 40.0  # permille needed to start rolling (ESC deadband)
    kp: float = 40.0  # permille per m/s of speed error
    ki: float = 60.0  # permille per m of accumulated speed error (m/s · s)
    i_limit: float = 300.0  # permille, bound of the integral term
    telemetry_stale: float = 0.2  # s: telemetry older than this is an e-stop (clears when telemetry resumes)
    link_lost_after: float = 1.0  # s: telemetry older than this (or no port) is a lost link; back, it waits for a human
    rc_wait: float = 120.0  # s record-demo teleop=rc waits for the transmitter to take over (TELEOP)
    camera: RealCameraConfig = field(default_factory=RealCameraConfig)
    pose: PoseSourceConfig = field(default_factory=PoseSourceConfig)


@dataclass
class HilConfig:
    """vehicle=hil only: where the simulated board and car run (fastrlap.vehicle.hil)."""

    # A rig served by `fastrlap hil serve` at this path outlives the commands that drive it,
    # as a real car outlives a crashed laptop; "" starts a private rig for this command.
    attach: str = ""  # Unix socket of a running rig (hil serve: where it serves); "" = start one inside the command


@dataclass
class VehicleConfig:
    kind: str = "sim"  # sim | real | hil
    control_hz: float = 10.0  # control ticks per second
    speed_bias: float = 3.0  # m/s: target speed = bias + scale * a[0]
    speed_scale: float = 3.0  # m/s per unit action
    max_steer: float = 0.45  # rad: steering angle = a[1] * max_steer
    sim: SimConfig = field(default_factory=SimConfig)
    real: RealConfig = field(default_factory=RealConfig)  # vehicle=real and vehicle=hil
    hil: HilConfig = field(default_factory=HilConfig)  # vehicle=hil

    def to_command(self, action) -> Command:
        """Policy action a ∈ [-1, 1]² -> physical command (`fastrlap.actions.to_command`)."""
        return to_command(action, self)


@dataclass
class GamepadConfig:
    """`teleop=gamepad`: a Linux joystick device (/dev/input/js*) drives the demo lap."""

    device: str = "/dev/input/js0"  # joystick device file
    throttle_axis: int = 1  # axis number of the speed stick (1 = left stick up/down on most pads)
    steer_axis: int = 3  # axis number of the steering stick (3 = right stick left/right on most pads)
    flip_throttle: bool = False  # the pad reads positive for stick up: flip it (Linux pads read negative)
    flip_steer: bool = False  # the pad reads positive for stick left: flip it (Linux pads read negative)
    deadzone: float = 0.08  # fraction of the axis range around centre read as zero
    max_speed: float = 2.0  # m/s at full stick forward
    reverse_speed: float = 0.8  # m/s at full stick back
    stop_button: int = 1  # button number that ends the recording like Ctrl-C (1 = B / circle)


@dataclass
class ViewConfig:
    """`fastrlap sim view`: a still and a video of a scripted lap."""

    out_dir: str = "sim_view"  # folder for view.png and lap.mp4
    seconds: float = 30.0  # length of the video, simulated seconds (a full lap stops it sooner)
    driver: str = "oracle"  # oracle | demo: which scripted driver drives the video


@dataclass
class AgentConfig:
    """The learner (fastrlap.agent): SAC with a REDQ critic ensemble on a frozen encoder."""

    # "pretrained" = fastrlap/assets/encoder.pt (offline IQL on simulated prior data);
    # "random" = a seeded random conv encoder (the no-pretraining ablation); a path = your own weights.
    encoder: str = "pretrained"  # pretrained | random | path to encoder weights (.pt)
    frame_size: int = 128  # px, camera frames are resized to frame_size x frame_size
    frame_stack: int = 3  # newest frames stacked on the channel axis (count)
    projection_dim: int = 50  # features of the actor's and the critic's own embedding projection
    hidden_dim: int = 256  # units per hidden layer (actor and each critic)
    num_layers: int = 2  # hidden layers (actor and each critic)
    num_qs: int = 10  # critics in the ensemble (count)
    num_min_qs: int = 2  # critics the target takes the min over, drawn at random (count)
    # min2: REDQ's min over num_min_qs random critics; mean_minus_std: mean - k·std over all of them,
    # k = critic_target_std, so states the critics disagree about (rarely reached ones) cost more.
    critic_target: str = "min2"  # min2 | mean_minus_std
    critic_target_std: float = 1.0  # k of mean_minus_std (unitless, >= 0)
    gamma: float = 0.99  # discount per control tick (unitless)
    tau: float = 0.005  # polyak rate of the target critics per critic update (unitless)
    lr: float = 3e-4  # Adam learning rate for actor, critics and temperature
    init_temperature: float = 0.1  # initial entropy temperature alpha (reward units per nat)
    target_entropy: float = -3.0  # final target entropy of the policy, nats
    # Start near the entropy of a uniform policy in the ±0.2 rate-limit box (2·log 0.4 = -1.83 nats)
    # and anneal slowly to the final target over about 17 minutes of 10 Hz practice.
    target_entropy_start: float = -2.0  # target entropy at the first actor update, nats
    target_entropy_anneal_updates: int = 10_000  # actor updates to anneal start -> final (0 = none)
    utd_ratio: int = 8  # critic updates per environment step; the actor updates once per block
    # 64 as in the authors' car code (512 samples per step in 8 minibatches): on a 2-core CPU the
    # oval is lapped at 1.1x the oracle after 4 simulated minutes (scripts/bench_practice.py).
    batch_size: int = 64  # transitions per critic update
    action_rate_per_tick: float = 0.2  # max change of each action component per control tick (action units)
    # RLPD-style symmetric sampling: this fraction of every batch is demo transitions, the rest
    # practice (0 = every stored transition equally likely, as before).
    demo_batch_share: float = 0.0  # fraction of each sampled batch taken from the demo lap
    # RACER-style widening limits: the commanded speed starts inside [start_min, start_max] m/s and
    # the box widens linearly to the full range over this many practice transitions (0 = full at once).
    action_limit_schedule: int = 0  # practice transitions until the full speed range (0 = off)
    action_limit_start_min_speed: float = 1.0  # m/s: lowest commandable speed at the first transition
    action_limit_start_max_speed: float = 3.0  # m/s: highest commandable speed at the first transition
    replay_capacity: int = 200_000  # transitions kept in the replay buffer
    replay_flush_every: int = 1000  # transitions between crash-safe flushes of the buffer to disk
    replay_flush_seconds: float = 10.0  # s of wall time between flushes too: a kill -9 loses at most this much driving
    compile: bool = False  # torch.compile the update step (faster steady state, slow first call)


@dataclass
class CourseConfig:
    """The demo lap, its checkpoints, lap detection and the reward (fastrlap.course)."""

    checkpoint_spacing: float = 3.0  # m of demo path between checkpoints (rounded so they divide the lap)
    goal_radius: float = 1.0  # m: a checkpoint is reached inside this distance
    gate_half_width: float = 1.5  # m: crossing a checkpoint's gate line this close to it also reaches it
    collision_penalty: float = 1.0  # reward units subtracted when a crash or stuck condition begins
    collision_penalty_per_mps: float = 1.0  # reward units added to the penalty per m/s of impact
    collision_penalty_max: float = 5.0  # reward units: cap of the collision penalty
    min_demo_length: float = 10.0  # m: a demo path shorter than this is rejected
    max_demo_seconds: float = 300.0  # s: a demo that has not closed the lap by then is rejected
    lap_close_radius: float = 1.5  # m: the demo lap closes on crossing the start line this close to the start
    demo_speed: float = 1.5  # m/s, speed of the scripted demo driver (simulator)


@dataclass
class SupervisorConfig:
    """When the practice loop hands the car to recovery, a human, or a stop (fastrlap.practice)."""

    crash_accel: float = 15.0  # m/s²: horizontal IMU acceleration above this is a crash
    stuck_distance: float = 0.3  # m: moving less than this ...
    stuck_seconds: float = 3.0  # s: ... over this long while LEARNING means stuck
    recovery_seconds: float = 1.0  # s of reversing in a pseudo-reset
    recovery_speed: float = 1.0  # m/s, reverse speed during recovery
    recovery_steer: float = 0.45  # rad: recovery steering is uniform in ±this
    teleop_release: float = 0.5  # s without human input before the policy takes over again
    geofence: float = 3.0  # m from the demo path beyond which the car is stopped
    stale_after: float = 0.5  # s: a camera frame older than this stops the car


@dataclass
class SafetyConfig:
    """Limits applied to every command before it reaches the car, whoever produced it."""

    speed_cap: float = 6.0  # m/s, forward
    reverse_cap: float = 1.2  # m/s, backward
    steer_cap: float = 0.45  # rad
    steer_rate_rad_s: float = 4.0  # rad/s, largest steering change the filter passes


@dataclass
class WandbConfig:
    """Weights & Biases logging of practice (offline by default: nothing leaves the machine)."""

    mode: str = "offline"  # offline | online | disabled
    project: str = "fastrlap"  # Weights & Biases project the runs are logged to


@dataclass
class PracticeConfig:
    """`fastrlap practice`: autonomous practice after the demo lap (fastrlap.practice)."""

    minutes: float = 20.0  # driving time: simulated minutes in the simulator, wall minutes on the car
    start_training: int = 500  # transitions in the buffer (demo ones count) before learning starts
    checkpoint_every: int = 1000  # control ticks between learner checkpoints (and replay flushes)
    checkpoint_seconds: float = 60.0  # s of wall time between learner checkpoints too (a slow machine still saves)
    actor_sync_seconds: float = 1.0  # s between weight hand-offs to the actor (car: threaded learner)
    summary_every: int = 100  # control ticks between summary.json rewrites
    max_ticks: int = 0  # stop after this many control ticks (0 = only `minutes` limits; for tests)
    dashboard: bool = True  # live terminal view (plain log lines when stdout is not a terminal)
    torch_threads: int = 0  # torch intra-op threads, count; 0 = auto (all cores in the simulator, half on the car: learner.choose_torch_threads)
    estop_key: bool = True  # space on the terminal = e-stop (only when stdin is a terminal in the foreground)
    sim_carry_back_s: float = 3.0  # simulator only: s stopped by the geofence before the simulated operator sets the car back on the track (0 = wait, as on the car)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)


@dataclass
class LearnerLinkConfig:
    """The link between a car and a learner on another machine (`fastrlap learner serve`)."""

    bind: str = "tcp://127.0.0.1:5555"  # learner serve: address it listens on (loopback unless given)
    key_file: str = ""  # shared key file; "" = learner.key in the learner's run_dir (serve creates it there)
    car: str = ""  # name this car shows on the learner ("" = the run directory's name)
    on_loss: str = "continue"  # learner unreachable: continue (drive on the last weights) | stop (end practice)
    heartbeat_hz: float = 4.0  # heartbeats each way per second
    dead_after_s: float = 0.8  # s without a word from the other side before the link counts as lost
    connect_timeout_s: float = 20.0  # s practice waits for the learner's first weights before giving up
    # Fresh weights matter early in practice: publishing every 2 s / 200 updates halved the laps
    # of the first 4 minutes against the in-process learner; every 0.25 s / 16 updates did not
    # (docs/remote_learner.md). 0.65 MB each: about 2.6 MB/s to each car.
    publish_seconds: float = 0.25  # s between actor weight publications (at most)
    publish_updates: int = 16  # critic updates between publications (whichever comes first)
    sim_lead: int = 50  # simulator only: transitions a car may run ahead of what the learner received and trained on


@dataclass
class ConsoleConfig:
    """The field console: a web page served by `fastrlap practice` (and `fastrlap console`)."""

    # TCP port; None = on (8765) for a car (vehicle=real, hil), off in the simulator; 0 = off
    port: int | None = None
    host: str = "127.0.0.1"  # bind address; 0.0.0.0 lets a phone on the same network open the page
    camera_fps: float = 4.0  # camera frames per second sent to the page (downscaled JPEG)
    camera_width: int = 320  # px, width the camera view is downscaled to


@dataclass
class PretrainConfig:
    """`fastrlap pretrain collect`: the prior dataset from the simulator's prior environments."""

    envs: list[str] = field(
        default_factory=lambda: ["campus", "gym", "office", "parking", "trail", "warehouse", "yard"]
    )  # prior environments (never race tracks)
    look: str = "realistic"  # camera look of the frames: realistic | clean (the shipped encoder's data)
    steps: int = 100_000  # frames (control ticks) to collect, count
    out: str = "prior_data"  # dataset folder (shards + manifest.json); must not hold a dataset yet
    src: str = ""  # import-recon: folder of RECON's jackal_*.hdf5 trajectory files
    frames_per_shard: int = 2000  # control ticks per shard file, count
    episode_seconds: float = 60.0  # s of simulated driving per episode (a new place, direction, mount and light each)
    min_speed: float = 0.5  # m/s, slowest speed drawn for a goal
    max_speed: float = 2.0  # m/s, fastest speed drawn for a goal
    steer_noise: float = 0.04  # rad, std of the steering noise's innovation per tick (OU process)
    speed_noise: float = 0.08  # m/s, std of the speed noise's innovation per tick (OU process)
    bump_prob: float = 0.12  # probability that a goal lies behind a barrier or on a box
    offtrack_prob: float = 0.25  # probability that a goal lies off the course where no barrier stands
    offtrack_reach: float = 2.5  # m, farthest an off-course goal lies beyond the edge
    brightness_jitter: float = 0.3  # max relative brightness change per episode
    light_azimuth_jitter_deg: float = 90.0  # realistic look: max turn of each episode's light from the venue's, degrees
    light_elevation_jitter_deg: float = 15.0  # realistic look: max raise or drop of each episode's light, degrees
    camera_variants: int = 4  # camera mounts (height, pitch, noise) episodes draw from, count
    height_jitter: float = 0.04  # m, max change of the camera height from the vehicle's camera
    pitch_jitter_deg: float = 4.0  # degrees, max change of the camera pitch
    noise_std_max: float = 6.0  # per-pixel Gaussian noise std of the noisiest mount, 0-255 units
    camera_seed: int = 6  # seed of the camera mounts (fixed, so every dataset uses the same mounts)


@dataclass
class IQLConfig:
    """`fastrlap pretrain train`: offline goal-conditioned IQL that trains the encoder.

    Defaults are the recipe of the shipped `fastrlap/assets/encoder.pt` (docs/experiments/encoder.md):
    9037 steps took 118 s on one H200 GPU. A CPU is far slower (1.9-2.0 steps/s at
    batch 64 on a quiet 2-core machine): there use e.g. steps=3600 batch_size=64 (31 minutes)
    for an encoder of your own; the progress line shows the ETA.
    """

    data: str = "prior_data"  # a dataset folder (manifest.json), or a folder of such folders
    out: str = "pretrained"  # folder for encoder.pt and metrics.csv
    steps: int = 9037  # gradient steps, count (the shipped encoder's: its 140 s GPU budget ended there)
    batch_size: int = 256  # transitions per step
    lr: float = 3e-4  # Adam learning rate of every network, the encoder included
    gamma: float = 0.97  # discount per control tick (horizon ~3 s: goals lie 0.3-6 s ahead)
    tau: float = 0.005  # polyak rate of the target critics per step
    expectile: float = 0.8  # tau of the value's expectile regression (0.5 = mean, -> 1 = max)
    temperature: float = 3.0  # beta of the advantage weights exp(beta * A) for the actor
    num_qs: int = 2  # critics in the ensemble (count); the target is their minimum
    hidden_dim: int = 256  # units per hidden layer of critic, value and actor
    projection_dim: int = 50  # features of each head's own projection of the embedding
    goal_min_ticks: int = 3  # hindsight goals lie this many ticks ahead at least
    goal_max_ticks: int = 60  # ... and at most (clipped to the trajectory's end)
    goal_radius: float = 0.5  # m: the next pose this close to the goal reaches it (episode ends)
    crash_penalty: float = 1.0  # reward units subtracted when a contact begins
    shift: int = 4  # px of random-shift augmentation (0 = none)
    photometric: float = (
        0.0  # ± relative brightness, contrast (and half of it white balance) jitter per sample (0 = none)
    )
    geometry_weight: float = 0.0  # weight of the auxiliary free-distance loss on the encoder (0 = IQL alone)
    max_frames: int = 0  # use at most this many ticks of the data (0 = all)
    log_every: int = 250  # steps between progress lines / metrics.csv rows
    save_every: int = 5000  # steps between saves of encoder.pt (a stop loses less than this)
    src: str = ""  # recycle: the weights file to recycle ("" = the shipped encoder)
    recycle_tau: float = 0.0  # recycle, and train with recycle_every: a channel whose normalised activity is <= this is dormant (0 = never fires)
    recycle_frames: int = 6000  # recycle: calibration ticks read from the start of `data`, count
    recycle_every: int = 0  # train: steps between ReDo passes over every conv layer, scored on the batch (0 = none)


@dataclass
class Config:
    track: str = "oval"  # built-in track name or path to a track YAML file
    seed: int = 0  # seed of the simulator, the demo driver and the learner (>= 0)
    device: str = "auto"  # auto | cpu | cuda
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    view: ViewConfig = field(default_factory=ViewConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    course: CourseConfig = field(default_factory=CourseConfig)
    run_dir: str | None = None  # run directory; None = a new runs/<date>-<time>-<track>/
    # who drives the demo: auto (script in the simulator and on vehicle=hil, rc on the car) | script
    # (the simulator's demo driver) | keyboard (simulator) | gamepad | rc (the transmitter, car or hil)
    teleop: str = "auto"
    gamepad: GamepadConfig = field(default_factory=GamepadConfig)  # teleop=gamepad
    practice: PracticeConfig = field(default_factory=PracticeConfig)
    # practice: local (the learner runs in this process) or tcp://HOST:PORT of `fastrlap learner serve`
    learner: str = "local"
    learner_link: LearnerLinkConfig = field(default_factory=LearnerLinkConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)  # the field console (web page)
    resume: str | None = None  # practice: continue the run in this directory
    laps: int = 5  # evaluate: laps to drive with the deterministic policy
    force: bool = (
        False  # record-demo: replace the run's demo lap (the old demo.npz and checkpoints.json are kept aside)
    )
    compare: list[str] = field(default_factory=list)  # report: other run directories to draw beside run_dir
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # `fastrlap pretrain collect`
    iql: IQLConfig = field(default_factory=IQLConfig)  # `fastrlap pretrain train`


def register_configs() -> None:
    """Register the schema so the YAML tree under configs/ is validated against it."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="vehicle", name="base_vehicle", node=VehicleConfig)


def compose_tree(overrides: list[str]):
    """The config tree from configs/ plus command-line overrides (Hydra's compose API), checked
    against the schema but not yet typed: a command on an existing run lays the run's own config
    under the values given on its command line before converting (`to_typed`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    check_overrides(overrides, Config, config_groups())
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
        return hydra_compose(config_name="config", overrides=overrides)


def config_dir() -> Path:
    """The Hydra config tree: configs/ in a checkout, shipped inside the package when installed."""
    return Path(str(resources.files("fastrlap.configs")))


@dataclass(frozen=True)
class Limit:
    """The values a number setting may take: from `low` to `high`, either end left out or open."""

    key: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False  # `low` itself is refused
    open_high: bool = False  # `high` itself is refused

    def allows(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.open_high and value == self.high))

    def wants(self) -> str:
        low = "" if self.low is None else f"{'above' if self.open_low else 'at least'} {self.low:g}"
        high = "" if self.high is None else f"{'below' if self.open_high else 'at most'} {self.high:g}"
        return " and ".join(p for p in (low, high) if p)


def _at_least(key: str, low: float) -> Limit:
    return Limit(key, low=low)


def _above(key: str, low: float) -> Limit:
    return Limit(key, low=low, open_low=True)


# Values that would crash a run minutes in, or make it silently meaningless (a zero batch, no
# critics, a negative duration): refused when the configuration is converted, before anything starts.
LIMITS: tuple[Limit, ...] = (
    _at_least("seed", 0),
    _at_least("laps", 1),
    _above("vehicle.control_hz", 0),
    _above("vehicle.max_steer", 0),
    _at_least("vehicle.speed_scale", 0),
    _at_least("vehicle.sim.physics_hz", 100),
    _at_least("vehicle.sim.latency_ticks", 0),
    _at_least("vehicle.sim.camera.width", 1),
    _at_least("vehicle.sim.camera.height", 1),
    Limit("vehicle.sim.camera.fov_deg", 0, 180, open_low=True, open_high=True),
    _above("vehicle.sim.camera.light_level", 0),
    _at_least("agent.frame_size", 1),
    _at_least("agent.frame_stack", 1),
    _at_least("agent.projection_dim", 1),
    _at_least("agent.hidden_dim", 1),
    _at_least("agent.num_layers", 1),
    _at_least("agent.num_qs", 1),
    _at_least("agent.num_min_qs", 1),
    Limit("agent.gamma", 0, 1, open_high=True),
    Limit("agent.tau", 0, 1, open_low=True),
    _above("agent.lr", 0),
    _above("agent.init_temperature", 0),
    _at_least("agent.target_entropy_anneal_updates", 0),
    _at_least("agent.utd_ratio", 1),
    _at_least("agent.batch_size", 1),
    _above("agent.action_rate_per_tick", 0),
    _at_least("agent.replay_capacity", 1),
    Limit("agent.demo_batch_share", 0, 1),
    _at_least("agent.action_limit_schedule", 0),
    _at_least("agent.critic_target_std", 0),
    _at_least("agent.replay_flush_every", 1),
    _above("course.checkpoint_spacing", 0),
    _above("course.goal_radius", 0),
    _at_least("course.gate_half_width", 0),
    _at_least("course.min_demo_length", 0),
    _above("course.max_demo_seconds", 0),
    _above("course.lap_close_radius", 0),
    _above("course.demo_speed", 0),
    _at_least("practice.minutes", 0),
    _at_least("practice.start_training", 0),
    _at_least("practice.checkpoint_every", 1),
    _above("practice.actor_sync_seconds", 0),
    _at_least("practice.summary_every", 1),
    _at_least("practice.max_ticks", 0),
    _at_least("practice.torch_threads", 0),
    _at_least("practice.sim_carry_back_s", 0),
    _above("practice.supervisor.stuck_seconds", 0),
    _above("practice.supervisor.geofence", 0),
    _above("practice.supervisor.stale_after", 0),
    _at_least("practice.safety.speed_cap", 0),
    _at_least("practice.safety.reverse_cap", 0),
    _at_least("practice.safety.steer_cap", 0),
    _above("practice.safety.steer_rate_rad_s", 0),
    _above("learner_link.heartbeat_hz", 0),
    _above("learner_link.dead_after_s", 0),
    _above("learner_link.connect_timeout_s", 0),
    _above("learner_link.publish_seconds", 0),
    _at_least("learner_link.publish_updates", 1),
    _at_least("learner_link.sim_lead", 1),
    _at_least("pretrain.steps", 1),
    _at_least("pretrain.frames_per_shard", 1),
    _above("pretrain.episode_seconds", 0),
    _above("pretrain.min_speed", 0),
    Limit("pretrain.bump_prob", 0, 1),
    Limit("pretrain.offtrack_prob", 0, 1),
    _at_least("pretrain.camera_variants", 1),
    Limit("pretrain.light_azimuth_jitter_deg", 0, 180),
    Limit("pretrain.light_elevation_jitter_deg", 0, 85),
    _at_least("iql.steps", 1),
    _at_least("iql.batch_size", 1),
    _above("iql.lr", 0),
    Limit("iql.gamma", 0, 1, open_high=True),
    Limit("iql.tau", 0, 1, open_low=True),
    Limit("iql.expectile", 0, 1, open_low=True, open_high=True),
    _at_least("iql.num_qs", 1),
    _at_least("iql.hidden_dim", 1),
    _at_least("iql.goal_min_ticks", 1),
    _at_least("iql.shift", 0),
    Limit("iql.photometric", 0, 1),
    _at_least("iql.max_frames", 0),
    _at_least("iql.log_every", 1),
    _at_least("iql.save_every", 1),
    _at_least("iql.recycle_frames", 1),
    _at_least("iql.recycle_every", 0),
)

# Words a setting must be one of (the code branches on them; anything else would fail later).
CHOICES: dict[str, tuple[str, ...]] = {
    "wandb.mode": ("offline", "online", "disabled"),
    "view.driver": ("oracle", "demo"),
    "vehicle.sim.camera.look": CAMERA_LOOKS,
    "pretrain.look": CAMERA_LOOKS,
    "vehicle.real.pose.source": ("odometry", "gps", "external"),
    "learner_link.on_loss": ("continue", "stop"),
    "agent.critic_target": ("min2", "mean_minus_std"),
}


def _get(cfg: Config, key: str):
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def check_config(cfg: Config) -> None:
    """Refuse, in one line naming the setting and what it takes, a value out of range."""
    check_finite(cfg)
    for limit in LIMITS:
        value = _get(cfg, limit.key)
        if not limit.allows(value):
            raise ConfigError(f"{limit.key}={show(value)}: use a value {limit.wants()}")
    for key, options in CHOICES.items():
        if _get(cfg, key) not in options:
            raise ConfigError(f"{key}={show(_get(cfg, key))}: use one of {', '.join(options)}")
    pairs = [
        ("agent.num_min_qs", "agent.num_qs"),
        ("pretrain.min_speed", "pretrain.max_speed"),
        ("iql.goal_min_ticks", "iql.goal_max_ticks"),
    ]
    if cfg.vehicle.kind in ("real", "hil"):
        # The policy's full lock must be one the car can steer: beyond the servo's full lock the
        # firmware saturates, so the policy's outer actions would all steer alike.
        pairs.append(("vehicle.max_steer", "vehicle.real.steer_full_lock"))
    for small, large in pairs:
        if _get(cfg, small) > _get(cfg, large):
            raise ConfigError(
                f"{small}={show(_get(cfg, small))} is more than {large}={show(_get(cfg, large))}; "
                f"lower {small} or raise {large}"
            )


# Settings that were renamed, old key -> new key. The two rate limits once shared the word "rate"
# in different units (action units per tick, rad/s); their names now carry the unit. A run
# directory's config.yaml written before the rename still loads (`upgrade_keys`).
RENAMED: dict[str, str] = {
    "agent.action_rate_limit": "agent.action_rate_per_tick",
    "practice.safety.steer_rate": "practice.safety.steer_rate_rad_s",
}


def upgrade_keys(tree: dict) -> dict:
    """A nested config dict with every renamed key under its new name (the value kept)."""
    for old, new in RENAMED.items():
        *path, leaf = old.split(".")
        node = tree
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node.setdefault(new.rsplit(".", 1)[1], node.pop(leaf))
    return tree


def config_groups() -> dict[str, list[str]]:
    """Config group -> its options, the YAML files under configs/<group>/ (`vehicle` -> hil, real, sim)."""
    root = config_dir()
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(root.iterdir())
        if d.is_dir() and any(d.glob("*.yaml"))
    }


def to_typed(cfg) -> Config:
    """OmegaConf -> `Config` dataclass (the one conversion point), checked by `check_config`."""
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config), type(obj)
    check_config(obj)
    return obj
