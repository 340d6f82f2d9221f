"""Case work done in the staff console: internal notes, transfers between counters, replies to the resident."""

from __future__ import annotations
