"""Overrides that make `fastrlap practice` small enough for a test: a random encoder (no weights
file to read), a two-critic learner of 32 units on batches of 16, no wandb and no dashboard, and
the clean camera look: the realistic default costs these loop tests about a third more CPU
(52 against 38 s on two of them) and is not what they test; the looks have their own tests, and
the encoder benchmark's test practises on the realistic one. Each test adds what its case needs (when learning starts, how often it saves, how long it runs)."""

TINY_AGENT = [
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "wandb.mode=disabled",
    "practice.dashboard=false",
    "vehicle.sim.camera.look=clean",
]
