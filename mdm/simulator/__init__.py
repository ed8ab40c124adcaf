"""A stateful stand-in for NanoMDM and the devices enrolled in it (standard library only; see README.md).

Serves NanoMDM's command API (``PUT /v1/enqueue/{ids}``, ``/v1/push/{ids}``) and posts NanoMDM's webhook
events, so the console can be run, tested and benchmarked without Apple devices.
"""

from .simulator import NanoMDMSimulator

__all__ = ["NanoMDMSimulator"]
