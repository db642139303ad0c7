"""Embeddings: inputs checked, the predictor called once, vectors encoded as floats or base64."""

from __future__ import annotations

import base64

import numpy as np

from modelport.errors import InvalidRequestError
from modelport.predictor import EmbeddingSignature
from modelport.protocol.embeddings import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.checks import check_embeddings
from modelport.serving.usage import estimate_tokens

_SERVER_FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}


def _texts(request: EmbeddingRequest) -> list[str]:
    value = request.input
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidRequestError("'input' must not be empty.", param="input")
    if not all(isinstance(item, str) for item in value):
        raise InvalidRequestError(
            f"The model `{request.model}` takes text input; token-id input is not supported by it.",
            param="input",
        )
    texts = [item for item in value if isinstance(item, str)]
    if any(text == "" for text in texts):
        raise InvalidRequestError("'input' must not contain empty strings.", param="input")
    return texts


def _dimensions(signature: EmbeddingSignature, request: EmbeddingRequest) -> dict[str, int]:
    if request.dimensions is None:
        return {}
    dims = signature.dims
    if dims is None or signature.dims_param is None:
        raise InvalidRequestError(
            f"The model `{request.model}` does not support 'dimensions'.",
            param="dimensions",
            code="unsupported_parameter",
        )
    if not dims.min <= request.dimensions <= dims.max:
        raise InvalidRequestError(
            f"'dimensions' must be between {dims.min} and {dims.max} for the model `{request.model}`, "
            f"got {request.dimensions}.",
            param="dimensions",
        )
    return {signature.dims_param: request.dimensions}


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()  # type: ignore[no-any-return]


async def create_embeddings(predictor: Predictor, request: EmbeddingRequest) -> EmbeddingResponse:
    signature = predictor.spec.signature
    assert isinstance(signature, EmbeddingSignature)
    texts = _texts(request)
    arguments = optional_arguments(
        predictor.spec,
        request.model_dump(exclude_unset=True),
        skip=_SERVER_FIELDS | {signature.dims_param or ""},
    )
    arguments.update(_dimensions(signature, request))
    arguments[signature.texts] = texts
    vectors = check_embeddings(predictor.name, await predictor.call(**arguments), len(texts), request.dimensions)
    tokens = sum(estimate_tokens(text) for text in texts)
    return EmbeddingResponse(
        data=[
            EmbeddingData(index=i, embedding=_encode(vector, request.encoding_format))
            for i, vector in enumerate(vectors)
        ],
        model=request.model,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
