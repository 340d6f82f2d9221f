"""The staff console's own tables: the audit log of every view and change (accounts and roles live in staff.py)."""

from __future__ import annotations
