"""The architecture as the folders show it: imports run one way (a lower layer never imports a
higher one), the runtime package needs nothing from the repository's developer folders, and
only the torch backend and the network definitions import torch."""
import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "vcam_sr"
# lowest first; a module may import its own layer and the ones before it
LAYERS = [
    {"errors", "atomic", "contract", "locations", "instance", "settings", "slot", "media"},
    {"config", "models", "stats"},
    {"sources", "sinks", "upscalers", "engines"},
    {"pipeline"},
    {"controller", "convert"},
    {"commands", "apps"},
    {"cli", "__init__"},
]
# a developer-only path that says so when the repository is not there (build-engine from a .pt)
ALLOWED = {("vcam_sr/commands/build_engine.py", "engine_build.export")}


def part(module: str) -> str:
    """'vcam_sr.upscalers.auto' -> 'upscalers'."""
    return module.split(".")[1] if module.count(".") else "__init__"


def layer(name: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if name in names)


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way_and_stay_in_the_package(path):
    rel = str(path.relative_to(REPO))
    own = path.relative_to(PACKAGE).parts
    own_part = own[0].removesuffix(".py") if len(own) > 1 or own[0] != "__init__.py" else "__init__"
    for name in imports(path):
        top = name.split(".")[0]
        if top in ("engine_build", "training"):
            assert (rel, name) in ALLOWED, f"{rel} imports {name}: the runtime package must not need it"
        if top == "torch":
            assert rel in ("vcam_sr/upscalers/torch.py", "vcam_sr/models/networks.py",  # and, to look for
                           "vcam_sr/upscalers/__init__.py"), f"{rel} imports torch"  # CUDA, the registry
        if top == "vcam_sr" and name != "vcam_sr":
            assert layer(part(name)) <= layer(own_part), f"{rel} ({own_part}) imports the higher {name}"


def test_every_layer_is_a_folder_or_module_that_exists():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names == set().union(*LAYERS)
