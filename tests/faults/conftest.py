"""Fixtures of the fault-injection suite (the stand and its invariants: ``stand.py``)."""

from tests.faults.stand import stand

__all__ = ["stand"]
