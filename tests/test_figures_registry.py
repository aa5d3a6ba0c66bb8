"""Every registered recipe honours the registry's contract."""

import re

import pytest

from rnndyn.figures import registry


def test_recipes_follow_the_contract():
    table = registry.recipes()
    assert len(table) == len(registry.RECIPES)  # names are unique
    for name, mod in table.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert isinstance(mod.TITLE, str) and mod.TITLE
        assert "seed" in mod.DEFAULTS, name
        assert callable(mod.compute) and callable(mod.plot)


def test_unknown_parameter_is_refused():
    recipe = next(iter(registry.recipes().values()))
    with pytest.raises(ValueError, match="unknown parameter"):
        registry.merge_params(recipe, {"no_such_parameter": 1})
