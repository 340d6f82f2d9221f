"""The isolation risk map's inputs: per-town statistics imported from a CSV and the scores computed from them."""

from __future__ import annotations
