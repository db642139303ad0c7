"""Image benchmarks: a diffusers pipeline through modelport against the same pipeline in-process.

1. Seconds per image: `POST /v1/images/generations` (b64 PNG) against `pipeline(...)` called in this
   process and its image saved as a PNG in memory: the same folder, size, steps, seed and thread count,
   runs interleaved; prints the median of each and of the paired ratios (goal: server overhead under 5%).
2. Streaming: time to the first `image_generation.partial_image` event against the time to the
   `image_generation.completed` event of the same stream (goal: under a third).

    .venv/bin/python bench/images.py [--pipeline PATH] [--runs 5] [--size 256x256] [--steps 4]

Without --pipeline it builds the tests' tiny random-weight Stable Diffusion pipeline (tests/builtin/
tiny_pipeline.py) in a temporary folder. It starts `modelport serve --image-model` on a free port on
127.0.0.1 and stops it at the end. Both sides run torch on --threads threads (default 1).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import itertools
import json
import os
import statistics
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from served import modelport_server

TESTS = Path(__file__).resolve().parents[1] / "tests"
PROMPT = "a lighthouse on a cliff at dawn"


def server(pipeline: Path, threads: int) -> AbstractContextManager[str]:
    return modelport_server(
        "--builtin", "images", "--image-model", f"bench={pipeline}", "--image-threads", str(threads)
    )


def in_process(pipeline_dir: Path, threads: int) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from diffusers import DiffusionPipeline

    torch.set_num_threads(threads)
    pipeline = DiffusionPipeline.from_pretrained(str(pipeline_dir), local_files_only=True)  # type: ignore[no-untyped-call]
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run_in_process(pipeline: Any, width: int, height: int, steps: int, seed: int) -> float:
    import torch

    start = time.perf_counter()
    generator = torch.Generator("cpu").manual_seed(seed)
    image = pipeline(PROMPT, width=width, height=height, num_inference_steps=steps, generator=generator).images[0]
    # The server answers with a PNG: so does this side, for the same work.
    image.save(io.BytesIO(), "PNG")
    return time.perf_counter() - start


def run_server(client: httpx.Client, size: str, steps: int, seed: int) -> float:
    body = {"model": "bench", "prompt": PROMPT, "size": size, "steps": steps, "seed": seed}
    start = time.perf_counter()
    response = client.post("/v1/images/generations", json=body)
    response.raise_for_status()
    return time.perf_counter() - start


def run_stream(client: httpx.Client, size: str, steps: int, seed: int) -> tuple[float, float]:
    """(seconds to the first partial image, seconds to the completed image) of one stream."""
    body = {
        "model": "bench",
        "prompt": PROMPT,
        "size": size,
        "steps": steps,
        "seed": seed,
        "stream": True,
        "partial_images": 1,
    }
    start = time.perf_counter()
    first = whole = 0.0
    with client.stream("POST", "/v1/images/generations", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            kind = json.loads(line.removeprefix("data: "))["type"]
            if kind.endswith("partial_image") and not first:
                first = time.perf_counter() - start
            if kind.endswith("completed"):
                whole = time.perf_counter() - start
    return first, whole


def breakdown(pipeline_dir: Path, width: int, height: int, steps: int, threads: int, runs: int) -> dict[str, float]:
    """Median seconds of each stage of one image, in-process, with the server's own preview code.

    text: the prompt encoded (both halves of classifier-free guidance); step: one denoising step (UNet and
    scheduler); vae: the latents decoded to pixels; png: the image encoded; preview: one preview as the
    server makes and sends it (latents to RGB, scaled up, PNG, base64); whole: `pipeline(...)` and its PNG.
    """
    import torch

    from modelport.builtin.diffusion import DiffusersImages

    model = DiffusersImages(pipeline_dir, threads=threads)
    model.load()
    pipeline = model._pipelines["generate"]
    torch.set_num_threads(threads)
    stages: dict[str, list[float]] = {name: [] for name in ("text", "step", "vae", "png", "preview", "whole")}
    for run in range(runs + 1):
        ends: list[float] = []
        latents: list[Any] = []

        def on_step(
            _: Any, step: int, __: Any, tensors: dict[str, Any], ends: list[float] = ends, latents: list[Any] = latents
        ) -> dict[str, Any]:
            ends.append(time.perf_counter())
            latents.append(tensors["latents"])
            return tensors

        generator = torch.Generator("cpu").manual_seed(run)
        start = time.perf_counter()
        with torch.no_grad():
            pipeline.encode_prompt(PROMPT, "cpu", 1, True)
        text = time.perf_counter() - start
        start = time.perf_counter()
        image = pipeline(
            PROMPT,
            width=width,
            height=height,
            num_inference_steps=steps,
            generator=generator,
            callback_on_step_end=on_step,
            callback_on_step_end_tensor_inputs=["latents"],
        ).images[0]
        done = time.perf_counter()
        png_start = time.perf_counter()
        encoded = io.BytesIO()
        image.save(encoded, "PNG")
        png = time.perf_counter() - png_start
        step = statistics.median(b - a for a, b in itertools.pairwise(ends)) if len(ends) > 1 else 0.0
        preview_start = time.perf_counter()
        preview = model._preview(pipeline, latents[0], getattr(pipeline, "vae_scale_factor", 8))[0]
        buffer = io.BytesIO()
        preview.save(buffer, "PNG")
        base64.b64encode(buffer.getvalue())
        preview_seconds = time.perf_counter() - preview_start
        if run == 0:
            continue  # warm-up
        stages["text"].append(text)
        stages["step"].append(step)
        # What follows the last step: the VAE decode and the conversion to a PIL image.
        stages["vae"].append(done - ends[-1])
        stages["png"].append(png)
        stages["preview"].append(preview_seconds)
        stages["whole"].append(done - start + png)
    return {name: statistics.median(values) for name, values in stages.items()}


def tiny_pipeline() -> Any:
    """The tests' module that builds the tiny pipeline."""
    spec = importlib.util.spec_from_file_location("tiny_pipeline", TESTS / "builtin" / "tiny_pipeline.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, help="a diffusers pipeline folder (default: build the tiny one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="also time each stage of one image in-process")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.pipeline
        if folder is None:
            folder = tiny_pipeline().build_tiny_pipeline(Path(scratch) / "tiny-sd")
        stages = breakdown(folder, width, height, args.steps, args.threads, args.runs) if args.breakdown else {}
        local = in_process(folder, args.threads)
        with server(folder, args.threads) as url, httpx.Client(base_url=url, timeout=600) as client:
            # One of each first: loading, first-call allocations and caches are not what is measured.
            run_in_process(local, width, height, args.steps, 0)
            run_server(client, args.size, args.steps, 0)
            run_stream(client, args.size, args.steps, 0)
            served, direct, ratios, firsts, wholes = [], [], [], [], []
            for run in range(1, args.runs + 1):
                direct.append(run_in_process(local, width, height, args.steps, run))
                served.append(run_server(client, args.size, args.steps, run))
                ratios.append(served[-1] / direct[-1])
                first, whole = run_stream(client, args.size, args.steps, run)
                firsts.append(first)
                wholes.append(whole)

    print(f"pipeline {folder.name}, {args.size}, {args.steps} steps, {args.threads} thread(s), {args.runs} runs")
    print(f"seconds per image   in-process {statistics.median(direct):.3f}   server {statistics.median(served):.3f}")
    print(f"server / in-process median of paired ratios {statistics.median(ratios):.3f} (goal < 1.05)")
    first, whole = statistics.median(firsts), statistics.median(wholes)
    print(
        f"stream: first partial image {first:.3f} s, completed {whole:.3f} s, ratio {first / whole:.3f} (goal < 0.33)"
    )
    if stages:
        shown = ", ".join(f"{name} {1000 * seconds:.1f} ms" for name, seconds in stages.items())
        print(f"stages in-process (medians): {shown}")
        # The earliest a first preview can be: the prompt, one step, and the preview made and sent.
        floor = stages["text"] + stages["step"] + stages["preview"]
        print(
            f"first preview at the earliest: {1000 * floor:.1f} ms = {floor / stages['whole']:.3f} of the whole; "
            f"the VAE decode and PNG alone are {(stages['vae'] + stages['png']) / stages['whole']:.3f} of it"
        )


if __name__ == "__main__":
    main()
