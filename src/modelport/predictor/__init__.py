"""Predictors: task inference from type hints, the signature rules, and checks on what predictors return."""

from modelport.predictor.infer import build_spec
from modelport.predictor.spec import (
    ChatSignature,
    EmbeddingSignature,
    ForwardRequest,
    ForwardSignature,
    ImageInput,
    ImageSignature,
    ModelSpec,
    ParamSpec,
    SpeechSignature,
    Task,
    TaskSignature,
    TranscriptionSignature,
)

__all__ = [
    "ChatSignature",
    "EmbeddingSignature",
    "ForwardRequest",
    "ForwardSignature",
    "ImageInput",
    "ImageSignature",
    "ModelSpec",
    "ParamSpec",
    "SpeechSignature",
    "Task",
    "TaskSignature",
    "TranscriptionSignature",
    "build_spec",
]
