"""The car without the car (`vehicle=hil`): the real firmware under simavr driving a simulated car.

```
RealVehicle ──SerialLink──► pty ──► firmware.elf under simavr (firmware/sim/harness.c)
    ▲                                   │ ESC / servo pulses measured on D10 / D9
    │ Camera(CallbackSource)            ▼
    │◄── Renderer ◄── SimulatedCar: World (fastrlap.sim) stepped at 50 Hz on the wall clock
    │◄── UDP pose JSON, signed (the world's noisy pose, as an indoor tracker would send it)
    └─── wheel-encoder pin pulsed at |wheel speed| / metres-per-tick, MPU-6050 registers fed
```

Everything the host does is the real car's code path: the serial protocol, the firmware's
safety logic (its watchdog stops the simulated car when the host dies), the speed loop on
measured wheel ticks, the estimator, the camera thread. Only the physics and the pictures are
simulated. The simulated ESC tracks a wheel speed proportional to its pulse (`top_speed` at full
throttle), so the host's speed loop has a plant with lag, limits and tyre slip to control.

One module per part: `firmware` builds the firmware and its simavr harness, `board`
(`FirmwareBoard`) runs it with its measured outputs and driven inputs, `plant` (`SimulatedCar`)
is the simulator's car behind the ESC and servo pins, `transmitter` (`ScriptedTransmitter`) a
scripted human on the RC transmitter (`teleop=rc`), `rig` (`HilRig`) all of these together,
`remote` serves a rig to other processes over a Unix socket (`fastrlap hil serve`,
`vehicle.hil.attach=SOCKET` for the commands), and `vehicle` (`HilVehicle`, `open_hil_vehicle`)
the host side on top. This package is the only part of `fastrlap.vehicle` that imports the
simulator.
"""

from fastrlap.vehicle.hil.board import FirmwareBoard, Pulse
from fastrlap.vehicle.hil.firmware import INSTALL_HINT, HilUnavailable, build_firmware, toolchain_missing
from fastrlap.vehicle.hil.plant import SimulatedCar
from fastrlap.vehicle.hil.remote import RemoteRig, RigServer
from fastrlap.vehicle.hil.rig import HilRig
from fastrlap.vehicle.hil.transmitter import ScriptedTransmitter
from fastrlap.vehicle.hil.vehicle import HilVehicle, open_hil_vehicle

__all__ = [
    "INSTALL_HINT",
    "FirmwareBoard",
    "HilRig",
    "HilUnavailable",
    "HilVehicle",
    "Pulse",
    "RemoteRig",
    "RigServer",
    "ScriptedTransmitter",
    "SimulatedCar",
    "build_firmware",
    "open_hil_vehicle",
    "toolchain_missing",
]
