"""Spec files: YAML → validated, normalised ``DesiredSet`` (see docs/SPEC_FORMAT.md)."""

from reconciler.spec.loader import load_specs
from reconciler.spec.model import DesiredRun, DesiredSet
from reconciler.spec.schema import spec_json_schema

__all__ = ["DesiredRun", "DesiredSet", "load_specs", "spec_json_schema"]
