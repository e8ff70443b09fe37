"""fastrlap: learn to race an RC car from its own camera (FastRLAP, arXiv 2304.09831).

Importing the package registers the gymnasium environment `fastrlap/Track-v0` (by name only:
nothing heavy is imported until an environment is made).
"""

from fastrlap.registration import register_envs

__version__ = "0.1.0"

register_envs()
