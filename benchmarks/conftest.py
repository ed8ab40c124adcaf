"""Benchmarks (`make bench`): the same fixtures as the tests; figures are recorded in docs/benchmarks.md."""

from tests.conftest import *  # noqa: F403
