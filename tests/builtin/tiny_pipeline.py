"""A tiny Stable Diffusion pipeline with random weights, built from configs and saved like a real one.

No package ships text-to-image weights, so the real loading code is tested on this: a small UNet, VAE and
CLIP text encoder (about 1.1M parameters, 4 MB on disk) and a character-level CLIP vocabulary written
here. Its pictures are noise, but every step of a real pipeline runs: tokenizer, text encoder, scheduler,
UNet, VAE, and the image-to-image and inpainting variants made from it.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

PROMPT_LIMIT = 77


def build_tiny_pipeline(folder: Path) -> Path:
    """Save the pipeline in `folder` (with `save_pretrained`) and return it."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    vocabulary = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    # One token per character, alone or ending a word: CLIP's BPE with no merges.
    for char in string.ascii_lowercase + string.digits + string.punctuation:
        vocabulary[char] = len(vocabulary)
        vocabulary[char + "</w>"] = len(vocabulary)
    words = folder.parent / f"{folder.name}-vocabulary"
    words.mkdir(parents=True, exist_ok=True)
    (words / "vocab.json").write_text(json.dumps(vocabulary))
    (words / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(words / "vocab.json"), str(words / "merges.txt"), model_max_length=PROMPT_LIMIT)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocabulary),
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=PROMPT_LIMIT,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=32,
        )
    )
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=256,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    return folder
