"""Registry backends, one module each, imported only when an image needs it."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from nodecred.provider.token import Deadline, Token


class Backend(Protocol):
    cacheable: bool

    def cache_key(self, host: str) -> str: ...

    def fetch(self, host: str, deadline: Deadline) -> Token: ...


_MODULES = {name: name for name in ("ecr", "static", "helper", "ocir", "gcp", "acr")}


def create(name: str, options: dict[str, Any], env: dict[str, str]) -> Backend:
    """The backend NAME, built from its settings OPTIONS and the process environment."""
    if name not in _MODULES:
        from nodecred.provider.token import BackendError

        raise BackendError(f"backend {name!r} is not available in this build of nodecred-provider")
    module = importlib.import_module(f"nodecred.provider.backends.{_MODULES[name]}")
    backend: Backend = module.build(options, env)
    return backend
