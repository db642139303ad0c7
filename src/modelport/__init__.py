"""modelport: serve typed Python functions and offline built-in models through the OpenAI API."""

from openai.types.chat import ChatCompletionChunk
from openai.types.chat import ChatCompletionMessageParam as Message

from modelport.app import App, model
from modelport.errors import InvalidRequestError, ModelportError, SignatureError
from modelport.parameters import Parameter
from modelport.predictor import ModelSpec, Task
from modelport.transcript import Segment, Transcript, Word

__version__ = "0.1.0"

__all__ = [
    "App",
    "ChatCompletionChunk",
    "InvalidRequestError",
    "Message",
    "ModelSpec",
    "ModelportError",
    "Parameter",
    "Segment",
    "SignatureError",
    "Task",
    "Transcript",
    "Word",
    "__version__",
    "model",
]
