"""What practice does with the learner link's state: events, status lines, on_loss=stop."""

from collections import deque

import pytest

from fastrlap.config import LearnerLinkConfig
from fastrlap.remote.car import LinkWatch
from fastrlap.remote.client import LearnerLinkError
from fastrlap.remote.link import Peer


class FakeLink:
    def __init__(self, on_loss="continue"):
        self.cfg = LearnerLinkConfig(on_loss=on_loss)
        self.address = "tcp://127.0.0.1:1"
        self.link_up = True
        self.link_state = "up, weights v0, 0 unacked"
        self.first_uses = deque()


def test_link_changes_and_new_weights_become_events():
    link, events = FakeLink(), []
    watch = LinkWatch(link, lambda t, kind, data: events.append((t, kind, data)))
    watch(1.0)
    assert events == []
    link.first_uses.append((200, 0.09))
    watch(2.0)
    link.link_up = False
    watch(3.0)
    watch(3.1)  # still lost: nothing new
    link.link_up = True
    watch(4.0)
    assert [(t, k, d.get("state", d.get("version"))) for t, k, d in events] == [
        (2.0, "weights", 200),
        (3.0, "learner_link", "lost"),
        (4.0, "learner_link", "up"),
    ]
    assert events[0][2]["latency_ms"] == 90.0


def test_on_loss_stop_ends_practice_in_one_line_when_the_link_is_lost():
    link = FakeLink(on_loss="stop")
    watch = LinkWatch(link, lambda *a: None)
    link.link_up = False
    with pytest.raises(LearnerLinkError, match="on_loss=stop"):
        watch(1.0)


def test_a_peer_is_lost_after_dead_after_s_of_silence():
    peer = Peer(dead_after_s=0.8)
    assert not peer.up() and not peer.ever
    peer.heard()
    now = peer.last_heard
    assert peer.up(now + 0.79) and not peer.up(now + 0.81)
