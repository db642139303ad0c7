"""Audio decoding, encoding and resampling for the speech and transcription endpoints."""

from modelport.audio.decode import decode_audio
from modelport.audio.encode import encode_audio
from modelport.audio.formats import (
    AUDIO_FORMATS,
    MEDIA_TYPES,
    PCM_SAMPLE_RATE,
    AudioDecodeError,
    AudioFormat,
)
from modelport.audio.resample import resample, to_mono
from modelport.audio.stream import AudioStreamEncoder

__all__ = [
    "AUDIO_FORMATS",
    "MEDIA_TYPES",
    "PCM_SAMPLE_RATE",
    "AudioDecodeError",
    "AudioFormat",
    "AudioStreamEncoder",
    "decode_audio",
    "encode_audio",
    "resample",
    "to_mono",
]
