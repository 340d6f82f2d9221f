"""Reading YAML with libyaml's C parser where PyYAML has it, its pure-Python parser otherwise.

domain.yml (with its response files), the training data, the lookup tables and the safety
lexicon are read at every start. The pure-Python parser spent about 1.5 s of each CLI
start, web start and training run on them; the C parser builds the same objects about
eight times faster. PyYAML's wheels ship libyaml; a build without it still works, slower.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["SafeLoader", "load_yaml"]

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The fastest safe loader available: plain YAML types only, never arbitrary objects."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :data:`SafeLoader`."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
