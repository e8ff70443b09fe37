"""fastrlap: learn to race an RC car from its own camera (FastRLAP, arXiv 2304.09831)."""

__version__ = "0.1.0"
