"""Annotations that tell modelport what a predictor's parameters and return value mean.

Use them inside `typing.Annotated`:

    def speak(
        text: str,
        voice: Annotated[Literal["tone"], Parameter.AudioVoice()],
        speed: Annotated[float, Parameter.AudioSpeed(0.5, 2.0)] = 1.0,
    ) -> Annotated[np.ndarray, Parameter.Audio(sample_rate=24_000)]: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class _Annotation:
    description: str = field(default="", kw_only=True)


class Parameter:
    """Namespace of modelport's annotations; each one takes an optional `description`."""

    @dataclass(frozen=True)
    class Generic(_Annotation):
        """An ordinary parameter, documented; its value comes from the request field of the same name."""

    @dataclass(frozen=True)
    class Embedding(_Annotation):
        """Marks an embedding function's return value: a float32 array of shape (N, D)."""

    @dataclass(frozen=True)
    class EmbeddingDims(_Annotation):
        """An int parameter that receives the request's `dimensions` (Matryoshka truncation)."""

        min: int
        max: int

        def __post_init__(self) -> None:
            if not 1 <= self.min <= self.max:
                raise ValueError(f"EmbeddingDims needs 1 <= min <= max, got min={self.min}, max={self.max}")

    @dataclass(frozen=True)
    class Audio(_Annotation):
        """Audio samples as float32 at `sample_rate`.

        On a transcription function's parameter: the server decodes the upload, mixes it to mono and
        resamples it to this rate, giving shape (F,). On a speech function's return value: (F,) mono or
        (F, C) interleaved channels at this rate.
        """

        sample_rate: int

        def __post_init__(self) -> None:
            if self.sample_rate <= 0:
                raise ValueError(f"Audio needs a positive sample_rate, got {self.sample_rate}")

    @dataclass(frozen=True)
    class AudioVoice(_Annotation):
        """A speech function's voice; its `Literal[...]` or `StrEnum` type lists the voices served."""

    @dataclass(frozen=True)
    class AudioSpeed(_Annotation):
        """A speech function's speed factor, accepted between `min` and `max`."""

        min: float = 0.25
        max: float = 4.0

        def __post_init__(self) -> None:
            if not 0 < self.min <= self.max:
                raise ValueError(f"AudioSpeed needs 0 < min <= max, got min={self.min}, max={self.max}")

    @dataclass(frozen=True)
    class Image(_Annotation):
        """Marks an image function's return value: a PIL image or a uint8 array (H, W, 3) or (H, W, 4);
        a list of them; or an iterator of either, whose last item is the result and the others previews."""

    @dataclass(frozen=True)
    class ImageSize(_Annotation):
        """An image function's `size: str`, "WIDTHxHEIGHT" with each side between `min` and `max` pixels
        and a multiple of `multiple_of`; "auto" or no size keeps the parameter's default."""

        min: int = 64
        max: int = 1024
        multiple_of: int = 8

        def __post_init__(self) -> None:
            if not 1 <= self.min <= self.max or self.multiple_of < 1:
                raise ValueError(
                    f"ImageSize needs 1 <= min <= max and multiple_of >= 1, got min={self.min}, max={self.max}, "
                    f"multiple_of={self.multiple_of}"
                )


ANNOTATION_TYPES: tuple[type[_Annotation], ...] = (
    Parameter.Generic,
    Parameter.Embedding,
    Parameter.EmbeddingDims,
    Parameter.Audio,
    Parameter.AudioVoice,
    Parameter.AudioSpeed,
    Parameter.Image,
    Parameter.ImageSize,
)
