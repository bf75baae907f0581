"""Training methods, one small file each. Importing this package registers them."""

from __future__ import annotations

from typing import Any

from ..config import build_dataclass
from ..errors import ConfigError
from . import adv_dpnp, dpnp, mart, pgd_at, standard, trades  # noqa: F401  (registration side effects)
from .base import METHODS, Method, Threat


def validate_method_options(section: dict) -> dict:
    """Check `method.name` and its options against the method's `Options`; return the full dict."""
    section = dict(section or {})
    name = section.pop("name", None)
    if name is None:
        raise ConfigError("method.name", None, "required; choose one of " + ", ".join(METHODS.names()))
    if name not in METHODS:
        raise ConfigError("method.name", name, "unknown method; choose one of " + ", ".join(METHODS.names()))
    opts = build_dataclass(METHODS.get(name).Options, section, "method.")
    from dataclasses import asdict

    return {"name": name, **asdict(opts)}


def build_method(section: dict[str, Any]) -> Method:
    section = validate_method_options(section)
    cls = METHODS.get(section.pop("name"))
    return cls(build_dataclass(cls.Options, section, "method."))


__all__ = ["METHODS", "Method", "Threat", "build_method", "validate_method_options"]
