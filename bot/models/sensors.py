"""Sensors in registered households, their events and the 安否確認 each event starts."""

from __future__ import annotations
