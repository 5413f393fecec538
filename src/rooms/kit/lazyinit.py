"""A package whose `__init__` runs only when a name it exports is first used.

Some libraries' `__init__` imports everything they have: `import uvicorn` runs its command
line (click, the reload and multi-worker supervisors), `import prometheus_client` its HTTP
exposition servers (http.server, urllib.request, wsgiref). A submodule cannot be imported
without its package's `__init__` running first, so `rooms serve` registers such a package
unexecuted (`defer_init`), imports the submodules it needs, and the package's own
`__init__` runs, complete and unchanged, the first time anything asks the package for a
name it does not have yet (PEP 562 module `__getattr__`). Nothing behaves differently; the
memory is spent only if that happens (README "Idle memory").
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

# names that trigger the real `__init__` although they look like module machinery
TRIGGERING_DUNDERS = frozenset({"__version__", "__all__"})


def defer_init(name: str) -> ModuleType | None:
    """Register package `name` without running its `__init__`; None (and nothing done) when
    it is already imported or not an installed package.

    Its submodules import as usual. The first lookup of a name the package lacks runs the
    real `__init__` into the same module object and answers from it; set the names other
    modules import from the package itself (`from pkg import Name`) on the returned module
    to keep even that from happening.
    """
    if name in sys.modules:
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") and attr not in TRIGGERING_DUNDERS:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        if importlib.util.find_spec(f"{name}.{attr}") is not None:  # `from . import sub`
            return importlib.import_module(f"{name}.{attr}")
        package.__dict__.pop("__getattr__", None)
        loader.exec_module(package)
        return getattr(package, attr)

    package.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = package
    return package


def import_deferring_models(name: str) -> None:
    """Import `name`, its pydantic models built on their first use instead of at import.

    pydantic builds a model's validator and serializer when its class is created. FastAPI's
    own ~40 models (the OpenAPI document's: `fastapi.openapi.models`, ~1.5 MiB) are used only
    when /openapi.json is first built, so `rooms serve` imports FastAPI with
    `defer_build` as every new model's default; models created after it (rooms' own) are not
    affected, and nothing is when `name` is already imported."""
    if name in sys.modules:
        return
    from pydantic import BaseModel

    defaults = BaseModel.model_config
    had = "defer_build" in defaults
    previous = defaults.get("defer_build")
    defaults["defer_build"] = True
    try:
        importlib.import_module(name)
    finally:
        if had:
            defaults["defer_build"] = previous  # type: ignore[typeddict-item]
        else:
            defaults.pop("defer_build", None)
