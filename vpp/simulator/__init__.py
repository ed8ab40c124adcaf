"""A stateful simulator of Apple's App and Book Management API v2, as Apple documents it.

Standard library only, so it can run beside the console, in tests and in load tests without Django.
"""

from .simulator import Simulator
from .tokens import mint_token

__all__ = ["Simulator", "mint_token"]
