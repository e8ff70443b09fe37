"""Serial round trip: COMMAND sent -> TELEMETRY acknowledging it received, through SerialLink.

By default it builds the firmware and runs it under simavr (firmware/build/fastrlap-fwsim),
talking over the harness's pseudo-terminal at 115200 baud with the simulation paced to the
wall clock; `--port /dev/ttyUSB0` measures a real board instead. Commands go out at `--hz`
(a control loop's pace), each waiting for its acknowledgement.

Prints a readable report and ends with one JSON line, as every benchmark does, so scripts can collect the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fastrlap.vehicle.serial_link import SerialLink

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"


def start_simulated_board(workdir: Path) -> tuple[subprocess.Popen, str]:
    subprocess.run(["make", "-s", "-C", str(FIRMWARE), "all"], check=True)
    link = str(workdir / "ttyFW")
    proc = subprocess.Popen(
        [str(FIRMWARE / "build" / "fastrlap-fwsim"), str(FIRMWARE / "build" / "fastrlap.elf"), "--link", link],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("ready"):
        raise RuntimeError(f"harness did not start: {first!r}")
    # drain the pulse reports so the harness never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, link


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", help="a real board's serial port (default: the firmware under simavr)")
    ap.add_argument("--commands", type=int, default=300, help="round trips to measure")
    ap.add_argument("--hz", type=float, default=50.0, help="command rate, Hz")
    args = ap.parse_args()

    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.port:
            port, target = args.port, f"board on {args.port}"
        else:
            proc, port = start_simulated_board(Path(tmp))
            target = "firmware under simavr (pty, 115200 baud, wall-clock paced)"
        try:
            with SerialLink(port, reply_timeout=0.5) as link:
                ack = link.hello_ack
                rtts = []
                period = 1.0 / args.hz
                next_t = time.monotonic()
                for i in range(args.commands):
                    throttle = (i * 37) % 400 - 200
                    t0 = time.perf_counter()
                    link.command_and_wait(throttle, -throttle)
                    rtts.append(time.perf_counter() - t0)
                    next_t += period
                    time.sleep(max(0.0, next_t - time.monotonic()))
                hb = sorted(link.heartbeat() for _ in range(50))
                stats = link.stats()
        finally:
            if proc is not None:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(timeout=5)

    rtts.sort()
    ms = [x * 1000.0 for x in rtts]
    result = {
        "bench": "serial_round_trip",
        "target": "real" if args.port else "simavr",
        "firmware": f"{ack.fw_major}.{ack.fw_minor}",
        "protocol": ack.version,
        "commands": len(ms),
        "rate_hz": args.hz,
        "cmd_rtt_median_ms": round(statistics.median(ms), 3),
        "cmd_rtt_p99_ms": round(percentile(ms, 0.99), 3),
        "cmd_rtt_max_ms": round(ms[-1], 3),
        "heartbeat_rtt_median_ms": round(statistics.median(hb) * 1000.0, 3),
        "lost_frames": stats.lost_frames,
        "crc_errors": stats.crc_errors,
    }
    print(f"Serial round trip, {target}")
    print(f"  firmware {result['firmware']}, protocol v{result['protocol']}, {len(ms)} commands at {args.hz:g} Hz")
    print(
        f"  command -> acknowledging telemetry: median {result['cmd_rtt_median_ms']:.2f} ms, "
        f"p99 {result['cmd_rtt_p99_ms']:.2f} ms, max {result['cmd_rtt_max_ms']:.2f} ms"
    )
    print(f"  heartbeat round trip: median {result['heartbeat_rtt_median_ms']:.2f} ms")
    print(f"  link: {stats.frames_rx} frames received, {stats.lost_frames} lost, {stats.crc_errors} CRC errors")
    print("  (a 47-byte telemetry frame alone takes 4.1 ms on the wire at 115200 baud)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
