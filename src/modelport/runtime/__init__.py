"""The runtime: which models are served, their lifecycle, and how they are called."""

from modelport.runtime.predictor import Predictor
from modelport.runtime.registry import DuplicateModelError, Registry
from modelport.runtime.targets import TargetError, load_targets, specs_from

__all__ = ["DuplicateModelError", "Predictor", "Registry", "TargetError", "load_targets", "specs_from"]
