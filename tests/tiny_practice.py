"""Overrides that make `fastrlap practice` small enough for a test: a random encoder (no weights
file to read), a two-critic learner of 32 units on batches of 16, no wandb and no dashboard.
Each test adds what its case needs (when learning starts, how often it saves, how long it runs)."""

TINY_AGENT = [
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "wandb.mode=disabled",
    "practice.dashboard=false",
]
