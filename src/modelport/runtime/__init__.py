"""The runtime: which models are served, their lifecycle, and how they are called."""

from modelport.runtime.interface import Predictor, PredictorFactory
from modelport.runtime.lifecycle import Lease, LoadPolicy, ManagedModel, State
from modelport.runtime.predictor import LocalPredictor
from modelport.runtime.registry import DuplicateModelError, Registry
from modelport.runtime.targets import TargetError, load_targets, specs_from

__all__ = [
    "DuplicateModelError",
    "Lease",
    "LoadPolicy",
    "LocalPredictor",
    "ManagedModel",
    "Predictor",
    "PredictorFactory",
    "Registry",
    "State",
    "TargetError",
    "load_targets",
    "specs_from",
]
