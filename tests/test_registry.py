import pytest

from fervid.evaluation.datasets import DATASETS
from fervid.inference.detect import DETECTORS
from fervid.inference.models import MODELS, resolve_model_dir
from fervid.inference.temporal import METHODS
from fervid.registry import Registry, UnknownName

REGISTRIES = {"face detector": (DETECTORS, {"centerface", "yuface"}),
              "temporal method": (METHODS, {"lstm", "mean", "frame"}),
              "emotion model": (MODELS, {"ferplus_vgg", "fer2013_vgg"}),
              "dataset kind": (DATASETS, {"fer2013", "ferplus", "ckplus", "jaffe", "jaffe+ckplus", "folder"})}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_each_registry_lists_its_entries_and_refuses_unknown_names_listing_them(kind):
    registry, expected = REGISTRIES[kind]
    assert registry.kind == kind and expected <= set(registry)
    with pytest.raises(UnknownName) as caught:
        registry["nope"]
    assert str(caught.value) == f"unknown {kind} 'nope'; expected one of {', '.join(registry)}"
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)


def test_model_registry_reads_the_shipped_folders_and_resolves_names(tmp_path):
    for name, folder in MODELS.items():
        assert resolve_model_dir(name) == folder and (folder / "config.json").is_file()
    loaded = []
    lazy = Registry("thing", lambda: loaded.append(1) or {"a": 1})
    assert loaded == [] and list(lazy) == ["a"] and lazy["a"] == 1 and loaded == [1]  # read once, when first used


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_a_registry_is_read_only(kind):
    """Registry.register was never called and made the "read-only mapping" of the module's docstring writable."""
    registry, _ = REGISTRIES[kind]
    assert not any(hasattr(registry, name) for name in ("register", "__setitem__", "__delitem__"))
    with pytest.raises(TypeError):
        registry["new"] = object()
