"""The field console in a real headless browser (Debian's chromium driven by Selenium) against a
simulated practice: the page loads, a lap shows, a phone-size screen has no horizontal scroll,
the E-STOP click stops the car, and control without the token or from another origin is refused.
Skipped where the system chromium or its driver is missing (`make browser-deps` installs them)."""

import importlib.util
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fastrlap.console.replay import ReplaySource
from fastrlap.console.server import TOKEN_HEADER, ConsoleServer
from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.types import NEUTRAL

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench_console.py"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None, reason="system chromium/chromedriver missing (make browser-deps)"
)
PHONE = (390, 844)


def human_driven(cfg):
    """The benchmark's simulated car with a human at the transmitter (scripts/bench_console.py)."""
    spec = importlib.util.spec_from_file_location("bench_console", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.HumanDriven(load_track("oval"), cfg)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_window_size(*PHONE)
    yield driver
    driver.quit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, timeout: float, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def post(url: str, headers: dict) -> int:
    req = urllib.request.Request(url, method="POST", headers=headers, data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def events(path):
    return [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines() if line.strip()]


def test_live_console_in_a_browser(tmp_path, demo_run, tiny, browser):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", f"console.port={free_port()}", "practice.minutes=600")
    car = human_driven(cfg)
    messages: list[str] = []
    worker = threading.Thread(
        target=practice, args=(open_run_dir(path), car, cfg), kwargs={"status": messages.append}, daemon=True
    )
    worker.start()
    try:
        line = wait(lambda: next((m for m in messages if m.startswith("console:")), None), 60)
        base, control = re.search(r"(http://\S+/) .* (http://\S+#token=\S+)", line).groups()
        token = control.split("#token=")[1]

        # Read-only without the token: the page shows, its E-STOP is disabled.
        browser.get(base)
        wait(lambda: browser.find_element("id", "link").text == "connected", 30)
        assert not browser.find_element("id", "estop").is_enabled()
        # Without the token, or from another origin with it, nothing stops or continues the car.
        assert post(base + "api/estop", {}) == 401
        assert post(base + "api/continue", {}) == 401
        assert post(base + "api/estop", {TOKEN_HEADER: token, "Origin": "http://elsewhere.example"}) == 403

        browser.get(control)
        wait(lambda: browser.find_element("id", "estop").is_enabled(), 30)
        wait(lambda: int(browser.find_element("id", "laps").text or 0) >= 1, 120, every=0.5)
        assert browser.find_element("id", "last").text.endswith(" s")
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        assert browser.execute_script("return document.getElementById('camera').naturalWidth") > 0
        browser.save_screenshot(str(tmp_path / "console.png"))
        assert (tmp_path / "console.png").stat().st_size > 10_000
        assert not any(e["event"] == "estop" for e in events(path))

        browser.find_element("id", "estop").click()
        wait(lambda: any(e["event"] == "estop" and e["active"] for e in events(path)), 30)
        stopped_at = len(car.sent)
        wait(lambda: len(car.sent) >= stopped_at + 5, 30)
        assert all(c == NEUTRAL for _, c in car.sent[stopped_at:])
        assert any(e["event"] == "mode" and e["new"] == "STOPPED" for e in events(path))
        wait(lambda: browser.find_element("id", "mode").text == "STOPPED", 30)
        assert browser.find_element("id", "continue").is_enabled()
    finally:
        car.done.set()
        worker.join(timeout=120)
    assert not worker.is_alive()


def test_replay_of_a_finished_run_is_read_only(tmp_path, demo_run, tiny, browser):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", "practice.max_ticks=600")
    practice(open_run_dir(path), human_driven(cfg), cfg, status=lambda m: None)
    laps = (path / "laps.csv").read_text().splitlines()[1:]
    assert laps  # the human at the transmitter drove at least one lap
    with ConsoleServer(ReplaySource.load(path), "127.0.0.1", 0) as server:
        browser.get(server.url)
        wait(lambda: browser.find_element("id", "mode").text == "replay", 30)
        assert browser.find_element("id", "laps").text == str(len(laps))
        assert not browser.find_element("id", "estop").is_enabled()
        assert "read-only" in browser.find_element("id", "access").text
        assert browser.find_elements("css selector", "#events li")
        browser.save_screenshot(str(tmp_path / "replay.png"))
