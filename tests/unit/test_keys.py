"""The keyboard e-stop reader on a pseudo-terminal: cbreak mode, latch, release, restore."""

import os
import pty
import termios
import time

import pytest

from fastrlap.practice import keys as keys_mod
from fastrlap.practice.keys import HANGUP_HELP, STOPPED_HELP, KeyReader


def wait_for(cond, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.fixture
def terminal():
    master, slave = pty.openpty()
    yield master, slave
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_space_latches_the_stop_only_c_releases_it_and_the_terminal_is_restored(terminal):
    master, slave = terminal
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON
    changes = []
    reader = KeyReader(slave, on_change=lambda stopped, msg: changes.append((stopped, msg)))
    assert reader.enabled
    with reader:
        now = termios.tcgetattr(slave)
        assert not now[3] & (termios.ECHO | termios.ICANON)  # a key at a time, not echoed
        assert now[3] & termios.ISIG  # Ctrl-C still raises SIGINT
        assert reader.hold() == ""
        os.write(master, b" ")  # no Enter: cbreak delivers the key at once
        assert wait_for(lambda: reader.stopped)
        assert reader.hold() == STOPPED_HELP and "c to continue" in STOPPED_HELP and "Ctrl-C" in STOPPED_HELP
        os.write(master, b"  x")  # panic presses and other keys change nothing
        time.sleep(0.2)
        assert reader.stopped and changes == [(True, STOPPED_HELP)]
        os.write(master, b"c")
        assert wait_for(lambda: not reader.stopped)
        assert reader.hold() == "" and changes[-1][0] is False
    assert termios.tcgetattr(slave) == before
    reader.close()  # twice is harmless


def test_the_terminal_is_restored_when_the_block_raises(terminal):
    _, slave = terminal
    before = termios.tcgetattr(slave)
    with pytest.raises(RuntimeError):
        with KeyReader(slave):
            raise RuntimeError("the loop failed")
    assert termios.tcgetattr(slave) == before


def test_a_terminal_that_goes_away_leaves_the_car_stopped(terminal):
    master, slave = terminal
    reader = KeyReader(slave).start()
    try:
        os.close(master)  # the operator's terminal hangs up: no space key any more
        assert wait_for(lambda: reader.stopped)
        assert reader.hold() == HANGUP_HELP
    finally:
        reader.close()


def test_no_terminal_means_no_reader_and_no_termios_calls(monkeypatch):
    def forbidden(*args):
        raise AssertionError("termios touched without a terminal")

    monkeypatch.setattr(termios, "tcgetattr", forbidden)
    monkeypatch.setattr(termios, "tcsetattr", forbidden)
    r, w = os.pipe()
    try:
        for fd in (r, None):
            reader = KeyReader(fd).start()
            assert not reader.enabled and not reader.stopped and reader.hold() == ""
            reader.close()
    finally:
        os.close(r)
        os.close(w)
    assert keys_mod.stdin_fd() is None or isinstance(keys_mod.stdin_fd(), int)


def test_a_background_job_leaves_the_terminal_alone(terminal, monkeypatch):
    _, slave = terminal
    monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp() + 1)  # another group owns the terminal
    assert not KeyReader(slave).enabled


def test_a_terminal_another_process_already_reads_key_by_key_is_left_alone(terminal):
    master, slave = terminal
    first = KeyReader(slave).start()  # e.g. the first of several benchmark processes on one shell
    try:
        held = termios.tcgetattr(slave)
        second = KeyReader(slave).start()
        assert not second.enabled and termios.tcgetattr(slave) == held
        second.close()
        assert termios.tcgetattr(slave) == held  # the second never restores the first one's mode
    finally:
        first.close()
    assert termios.tcgetattr(slave)[3] & termios.ICANON


def test_c_counts_as_a_confirmation_only_when_it_releases_no_estop(terminal):
    master, slave = terminal
    with KeyReader(slave) as reader:
        assert reader.continue_presses() == 0
        os.write(master, b"c")
        assert wait_for(lambda: reader.continue_presses() == 1)
        os.write(master, b" ")
        assert wait_for(lambda: reader.stopped)
        os.write(master, b"c")  # releases the e-stop: answers that, and nothing else
        assert wait_for(lambda: not reader.stopped)
        time.sleep(0.1)
        assert reader.continue_presses() == 1
        os.write(master, b"C")
        assert wait_for(lambda: reader.continue_presses() == 2)
