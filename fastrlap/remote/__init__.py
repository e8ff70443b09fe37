"""The learner on another machine: `fastrlap learner serve` on a workstation, `learner=tcp://...` on the car.

The car keeps its control loop, encoder, laps and events; the workstation keeps the replay buffer
and the learner. Transitions travel car -> learner (spooled on the car's disk until acknowledged),
actor weights learner -> car, over one CurveZMQ-encrypted connection (docs/remote_learner.md).
"""
