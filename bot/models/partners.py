"""Partner businesses under a 見守り協定 (agreements, invitation codes) and their employees who report."""

from __future__ import annotations
