"""Speech benchmarks: modelport against the raw library, side by side in one run; prints the ratios.

1. Transcription real-time factor (wall time / audio seconds) of Whisper base on a ~30 s clip, through
   the server (`POST /v1/audio/transcriptions`) against faster-whisper called in this process with the
   same model files and options. The clip is made by speaking text with the built-in TTS.
2. Streamed speech: time to the first audio byte against the time to the whole file, for a 4-sentence
   input, per built-in speech model.

    .venv/bin/python bench/speech.py [--runs 3]

It starts `modelport serve` (the built-in models) on a free port on 127.0.0.1 and stops it at the end.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import av
import httpx
from served import modelport_server

from modelport.audio import decode_audio
from modelport.builtin.whisper import base_model_files

PARAGRAPH = (
    "The harbour was quiet in the early morning, and the boats rocked gently against the pier. "
    "A fisherman walked along the dock, carrying two buckets and a coil of rope over his shoulder. "
    "Above him the gulls circled slowly, waiting for the first catch of the day to come in. "
    "Further down the coast, the lighthouse keeper switched off the lamp and made a pot of coffee. "
    "By eight o'clock the market stalls were open, and the smell of fresh bread filled the square. "
    "Children ran between the tables while their parents argued cheerfully about the price of apples."
)
FOUR_SENTENCES = (
    "Streaming lets a listener hear the first words while the rest is still being made. "
    "Each sentence is synthesized on its own and sent as soon as it is ready. "
    "The whole file would only arrive after the last sentence was finished. "
    "This benchmark measures how much sooner the first byte arrives."
)
BEAM_SIZE = 5  # the built-in's default


def server() -> AbstractContextManager[str]:
    return modelport_server()


def seconds_of(data: bytes) -> float:
    with av.open(io.BytesIO(data), mode="r") as container:
        samples = sum(int(frame.samples) for frame in container.decode(audio=0))
        return samples / container.streams.audio[0].rate


def median_time(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def transcription(http: httpx.Client, runs: int) -> None:
    clip = http.post(
        "/v1/audio/speech", json={"model": "hibari", "voice": "heart", "input": PARAGRAPH, "response_format": "wav"}
    ).content
    duration = seconds_of(clip)
    print(f"clip: {duration:.1f} s of speech (hibari, wav, {len(clip) / 1e6:.2f} MB)")

    def through_server() -> None:
        response = http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-base", "response_format": "verbose_json"},
            files={"file": ("clip.wav", clip)},
        )
        response.raise_for_status()

    from faster_whisper import WhisperModel

    direct_model = WhisperModel("whisper-base", device="cpu", compute_type="int8", files=base_model_files())

    def in_process() -> None:
        audio = decode_audio(clip, 16_000)
        segments, _ = direct_model.transcribe(audio, beam_size=BEAM_SIZE)
        list(segments)

    through_server()  # warm-up
    in_process()
    # Alternate the two, so a load that comes and goes on the machine falls on both alike.
    pairs = [(median_time(1, through_server), median_time(1, in_process)) for _ in range(runs)]
    served = statistics.median(p[0] for p in pairs)
    direct = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    print(f"transcription RTF, server:      {served / duration:.4f}  ({served:.2f} s, median of {runs})")
    print(f"transcription RTF, in-process:  {direct / duration:.4f}  ({direct:.2f} s, median of {runs})")
    print(f"server / in-process:            {ratio:.3f}  (overhead {100 * (ratio - 1):+.1f}%, median of the pairs)")


def first_byte(http: httpx.Client, model: str, voice: str, response_format: str) -> tuple[float, float]:
    body = {"model": model, "voice": voice, "input": FOUR_SENTENCES, "response_format": response_format}
    start = time.perf_counter()
    first = None
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        for piece in response.iter_raw():
            if piece and first is None:
                first = time.perf_counter() - start
    whole = time.perf_counter() - start
    assert first is not None
    return first, whole


def streaming(http: httpx.Client, runs: int) -> None:
    for model, voice in (("hibari", "heart"), ("piper-joe", "joe")):
        for response_format in ("mp3", "pcm"):
            first_byte(http, model, voice, response_format)  # warm-up
            results = [first_byte(http, model, voice, response_format) for _ in range(runs)]
            first = statistics.median(r[0] for r in results)
            whole = statistics.median(r[1] for r in results)
            print(
                f"speech {model:9s} {response_format:4s}: first byte {1000 * first:7.1f} ms, whole file "
                f"{1000 * whole:7.1f} ms, first / whole = {first / whole:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with server() as url, httpx.Client(base_url=url, timeout=600) as http:
        transcription(http, args.runs)
        streaming(http, args.runs)


if __name__ == "__main__":
    main()
