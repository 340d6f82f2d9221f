"""bot.yaml_files: the fast loader builds what PyYAML's pure-Python safe loader builds, and stays safe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.yaml_files import SafeLoader, load_yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["domain.yml", "intents/safety_lexicon.yml", "intents/data/lookups.yml",
                                  "intents/data/train/intents_standard.yml"])
def test_the_same_objects_as_the_pure_python_safe_loader(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert load_yaml(text) == yaml.safe_load(text)


def test_it_never_builds_python_objects() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("!!python/object/apply:os.getcwd []")


def test_libyaml_is_used_where_pyyaml_has_it() -> None:
    # PyYAML's wheels ship libyaml; without it every start pays ~1.5 s more (the module's docstring).
    assert SafeLoader is yaml.CSafeLoader
