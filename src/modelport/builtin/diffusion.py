"""Image models from diffusers pipelines saved on disk: generations, and edits with the same weights.

No package ships text-to-image weights, so there is no default image model: `--image-model [NAME=]PATH`
serves a folder written by `save_pipeline.save_pretrained(PATH)` (Stable Diffusion 1.x/2.x, SDXL,
SD-Turbo, LCM, PixArt, FLUX-schnell, ...). It is loaded with `local_files_only`, never touching a model
hub. Edits run the image-to-image and inpainting variants of the same pipeline, sharing its weights.
"""

from __future__ import annotations

import inspect
import logging
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from PIL import Image

from modelport.builtin import MissingDependencyError
from modelport.config import Settings
from modelport.errors import InvalidRequestError
from modelport.parameters import Parameter
from modelport.predictor import ModelSpec, build_spec
from modelport.runtime.targets import TargetError

logger = logging.getLogger(__name__)

_EXTRA = "images"
MAX_IMAGES = 4
MAX_STEPS = 500
# Stable Diffusion's four latent channels → RGB, a linear fit that previews a latent without the VAE
# (about right for SD 1.x/2.x, roughly for other four-channel latents).
_LATENT_RGB = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)


class _Stopped(Exception):
    """Raised in the step callback to abandon a run whose client went away."""


def _offline() -> None:
    """Keep huggingface_hub off the network; it reads these when it is first imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class DiffusersImages:
    """A diffusers pipeline behind the image contract.

    It yields previews (decoded cheaply from the latents at the end of a denoising step) when asked for
    `partial_images`, then the images. Runs are one at a time: a pipeline's scheduler holds the state of
    the run in progress.
    """

    def __init__(self, folder: Path, *, threads: int | None = None, max_images: int = MAX_IMAGES) -> None:
        self.folder = folder
        self.threads = threads or default_threads()
        self.max_images = max_images
        self.max_prompt_tokens: int | None = None
        self._pipelines: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._making = threading.Lock()
        self._torch: Any = None

    def load(self) -> None:
        _offline()
        import torch
        from diffusers import DiffusionPipeline

        cuda = torch.cuda.is_available()
        pipeline = DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            str(self.folder), local_files_only=True, dtype=torch.float16 if cuda else torch.float32
        )
        pipeline.to("cuda" if cuda else "cpu")
        pipeline.set_progress_bar_config(disable=True)
        self._torch = torch
        self._pipelines = {"generate": pipeline}
        self._tokenizer, self.max_prompt_tokens = _longest_tokenizer(pipeline)

    def unload(self) -> None:
        self._pipelines = {}
        self._tokenizer = None
        self.max_prompt_tokens = None

    def count_prompt_tokens(self, prompt: str) -> int:
        """The prompt's tokens, with the start and end tokens, by the pipeline's longest-reaching tokenizer."""
        if self._tokenizer is None:
            return 0
        return len(self._tokenizer(prompt, verbose=False).input_ids)

    def _pipeline(self, kind: str) -> Any:
        """The pipeline for `kind` (generate, edit, inpaint), made from the loaded one on first use."""
        with self._making:
            if kind in self._pipelines:
                return self._pipelines[kind]
            if not self._pipelines:
                raise RuntimeError("the model is not loaded")
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            make = AutoPipelineForInpainting if kind == "inpaint" else AutoPipelineForImage2Image
            try:
                pipeline = make.from_pipe(self._pipelines["generate"])
            except (ValueError, KeyError) as exc:
                raise InvalidRequestError(
                    f"This pipeline has no {'inpainting' if kind == 'inpaint' else 'image-to-image'} variant ({exc}).",
                    param="mask" if kind == "inpaint" else "image",
                    code="unsupported_parameter",
                ) from None
            pipeline.set_progress_bar_config(disable=True)
            self._pipelines[kind] = pipeline
            return pipeline

    def __call__(
        self,
        prompt: str,
        image: Image.Image | None = None,
        mask: Image.Image | None = None,
        size: Annotated[str | None, Parameter.ImageSize(min=64, max=2048, multiple_of=8)] = None,
        n: int = 1,
        seed: Annotated[int | None, Parameter.Generic(description="the same seed makes the same images")] = None,
        negative_prompt: str | None = None,
        steps: Annotated[int | None, Parameter.Generic(description="denoising steps")] = None,
        guidance_scale: float | None = None,
        strength: Annotated[float | None, Parameter.Generic(description="how far an edit departs")] = None,
        partial_images: int = 0,
    ) -> Iterator[Annotated[list[Image.Image], Parameter.Image()]]:
        """Generate from `prompt`, or edit `image` (inside the transparent part of `mask`, if given)."""
        if steps is not None and not 1 <= steps <= MAX_STEPS:
            raise InvalidRequestError(f"'steps' must be between 1 and {MAX_STEPS}.", param="steps")
        kind = "generate" if image is None else ("inpaint" if mask is not None else "edit")
        pipeline = self._pipeline(kind)
        width, height = _dimensions(size, image)
        asked = {
            "negative_prompt": negative_prompt,
            "num_inference_steps": steps,
            "guidance_scale": guidance_scale,
            "strength": strength,
            "num_images_per_prompt": n,
        }
        arguments = _accepted(pipeline, {k: v for k, v in asked.items() if v is not None})
        arguments["prompt"] = prompt
        if image is not None and width and height:
            # Image-to-image keeps the size of its input: the input is resized to the size wanted.
            arguments["image"] = image.convert("RGB").resize((width, height))
            if mask is not None:
                arguments["mask_image"] = _repaint_mask(mask).resize((width, height))
        if kind != "edit" and width and height:
            arguments.update(width=width, height=height)
        if seed is not None:
            arguments["generator"] = self._torch.Generator("cpu").manual_seed(seed)
        arguments["output_type"] = "pil"
        if partial_images <= 0:
            with self._lock:
                yield list(self._run(pipeline, arguments))
            return
        yield from self._run_with_previews(pipeline, arguments, partial_images)

    def _run(self, pipeline: Any, arguments: dict[str, Any], **callbacks: Any) -> list[Image.Image]:
        # torch's thread count belongs to the thread that sets it (OpenMP), so it is set in the thread that
        # runs. Measured on a busy 2-core machine: torch's default threads ran 5x slower than one per core.
        self._torch.set_num_threads(self.threads)
        return list(pipeline(**arguments, **callbacks).images)

    def _run_with_previews(
        self, pipeline: Any, arguments: dict[str, Any], previews: int
    ) -> Iterator[list[Image.Image]]:
        """Run in a thread of its own, yielding previews from the step callback as they come."""
        found: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        scale = getattr(pipeline, "vae_scale_factor", 8)

        def on_step(_: Any, step: int, __: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if stop.is_set():
                raise _Stopped
            total = getattr(pipeline, "num_timesteps", 0) or 1
            if step in _preview_steps(total, previews):
                preview = self._preview(pipeline, tensors["latents"], scale)
                if preview:
                    found.put(("preview", preview))
            return tensors

        def run() -> None:
            try:
                with self._lock:
                    images = self._run(
                        pipeline,
                        arguments,
                        callback_on_step_end=on_step,
                        callback_on_step_end_tensor_inputs=["latents"],
                    )
                found.put(("done", images))
            except BaseException as exc:
                found.put(("error", exc))

        worker = threading.Thread(target=run, name="diffusers-run", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = found.get()
                if kind == "error":
                    if isinstance(value, _Stopped):
                        return
                    raise value
                yield value
                if kind == "done":
                    return
        finally:
            stop.set()
            worker.join()

    def _preview(self, pipeline: Any, latents: Any, scale: int) -> list[Image.Image]:
        """The latents as small RGB images scaled up to the output size; none when their layout is unknown."""
        torch = self._torch
        if latents.ndim != 4 or latents.shape[1] != len(_LATENT_RGB):
            return []
        with torch.no_grad():
            weights = torch.tensor(_LATENT_RGB, dtype=torch.float32, device=latents.device)
            rgb = torch.einsum("bchw,cr->bhwr", latents.float(), weights)
            pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
        previews = [
            Image.fromarray(array, "RGB").resize(
                (array.shape[1] * scale, array.shape[0] * scale), Image.Resampling.BILINEAR
            )
            for array in pixels
        ]
        for preview in previews:
            # Said to be a preview, it is sent at once rather than after a wait for what comes next.
            preview.info["preview"] = True
        return previews


def _longest_tokenizer(pipeline: Any) -> tuple[Any, int | None]:
    """The tokenizer that reads furthest into a prompt (CLIP's 77 tokens, T5's 256 or 512), and its limit."""
    best: tuple[Any, int | None] = (None, None)
    for attribute in ("tokenizer", "tokenizer_2", "tokenizer_3"):
        tokenizer = getattr(pipeline, attribute, None)
        limit = getattr(tokenizer, "model_max_length", None)
        # Tokenizers without a limit report a huge sentinel.
        if isinstance(limit, int) and limit < 100_000 and (best[1] is None or limit > best[1]):
            best = (tokenizer, limit)
    return best


def _dimensions(size: str | None, image: Image.Image | None) -> tuple[int | None, int | None]:
    """The output's width and height: the size asked for, else an edited image's own (to a multiple of 8)."""
    if size is not None:
        width, _, height = size.partition("x")
        return int(width), int(height)
    if image is not None:
        return max(8, image.width // 8 * 8), max(8, image.height // 8 * 8)
    return None, None


def _repaint_mask(mask: Image.Image) -> Image.Image:
    """OpenAI's mask (edit where fully transparent) as diffusers' (repaint where white)."""
    if "A" in mask.getbands():
        return mask.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0)
    return mask.convert("L")


# Each pipeline class's call parameters, read once: `inspect.signature` of a pipeline's call takes about a
# millisecond.
_CALL_PARAMETERS: dict[type, frozenset[str]] = {}


def _call_parameters(kind: type) -> frozenset[str]:
    known = _CALL_PARAMETERS.get(kind)
    if known is None:
        known = _CALL_PARAMETERS[kind] = frozenset(inspect.signature(kind.__call__).parameters)
    return known


def _accepted(pipeline: Any, options: dict[str, Any]) -> dict[str, Any]:
    """`options`, each checked against the pipeline's call: one it does not take is a 400."""
    taken = _call_parameters(type(pipeline))
    for name in options:
        if name not in taken:
            param = {"num_inference_steps": "steps", "num_images_per_prompt": "n"}.get(name, name)
            raise InvalidRequestError(
                f"This model's pipeline ({type(pipeline).__name__}) does not take '{param}'.",
                param=param,
                code="unsupported_parameter",
            )
    return options


def _preview_steps(total: int, previews: int) -> set[int]:
    """The steps after which to preview: the first one (the earliest picture), then evenly spread."""
    return {j * total // previews for j in range(previews)}


def image_model_spec(folder: Path, name: str | None = None, *, threads: int | None = None) -> ModelSpec:
    """The spec of the diffusers pipeline saved in `folder`, served as `name` (default: the folder's name)."""
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"{folder} is not a diffusers pipeline folder (it has no model_index.json)")
    _offline()
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"image models ({exc.name})", _EXTRA) from exc
    return build_spec(
        DiffusersImages(folder, threads=threads),
        name=name or folder.resolve().name,
        description=f"A diffusers pipeline from {folder}.",
    )


def parse_image_model(entry: str) -> tuple[str | None, Path]:
    """`NAME=path` or `path` → (name or None, path)."""
    name, separator, path = entry.partition("=")
    if separator and name and "/" not in name and os.sep not in name:
        return name, Path(path)
    return None, Path(entry)


def models(settings: Settings) -> list[ModelSpec]:
    """The pipelines `settings.image_models` names; none by default."""
    specs = []
    for entry in settings.image_models:
        name, folder = parse_image_model(entry)
        try:
            specs.append(image_model_spec(folder, name, threads=settings.image_threads))
        except MissingDependencyError as exc:
            # Asked for by path: a missing extra is an error, not a model to skip.
            raise TargetError(str(exc)) from None
    return specs
