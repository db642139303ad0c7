"""The playground at `/` in a real browser, against a live server with the example and built-in models."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import struct
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from playwright.sync_api import Locator, Page, Route, expect

import live_server
from live_server import LiveServer
from modelport.builtin import hibari, llama, onnx_embeddings
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

from .conftest import ARTIFACTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
API_KEY = "playground-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The examples with the built-in chat, embedding and hibari speech models."""
    settings = Settings(cache_dir=tmp_path_factory.mktemp("cache"), chat_parallel=2, chat_context=1024)
    specs = [*load_targets([str(EXAMPLES)]), *llama.models(settings), *onnx_embeddings.models(settings)]
    specs += hibari.models(settings)
    with live_server.serve(Registry(specs), settings) as live:
        yield live


@pytest.fixture(scope="module")
def locked_server() -> Iterator[LiveServer]:
    with live_server.serve(Registry(load_targets([str(EXAMPLES)])), Settings(api_keys=[API_KEY])) as live:
        yield live


def open_tab(page: Page, server: LiveServer, tab: str) -> Locator:
    """Open the page on `tab`; returns its panel."""
    page.goto(f"{server.url}/")
    page.get_by_role("tab", name=tab, exact=True).click()
    expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
    return page.get_by_role("tabpanel")


def test_first_view_lists_a_tab_per_capability(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    tabs = page.get_by_role("tab")
    # The examples and built-ins served here cover every capability: voice chat (chat, speech and
    # transcription models) and images (the `patterns` example) included.
    expect(tabs).to_have_text(["Chat", "Embeddings", "Speech", "Transcription", "Voice chat", "Images"])
    expect(page.get_by_role("status")).to_contain_text("models on this server")
    # The chat model list holds the chat models only.
    options = page.locator("#chat-model option").all_text_contents()
    assert {"echo", "echo-1", "shout"} <= set(options)
    assert "hash-embed" not in options
    # Keyboard: arrows move along the tabs and show their panels.
    page.get_by_role("tab", name="Chat", exact=True).focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Embeddings", exact=True)).to_be_focused()
    expect(page.locator("#panel-embeddings")).to_be_visible()
    expect(page.locator("#panel-chat")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-chat")).to_be_visible()
    # Every control is labelled.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#panel-chat input, #panel-chat select, #panel-chat textarea')]
            .filter(e => !e.labels?.length && !e.getAttribute('aria-label')).map(e => e.id)"""
    )
    assert unlabelled == []


def test_chat_answer_streams_token_by_token(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    panel.get_by_label("Model").select_option("qwen2.5-coder-0.5b-instruct")
    panel.get_by_label("Temperature").fill("0")
    panel.get_by_label("Max tokens").fill("48")
    panel.get_by_label("Seed").fill("7")
    # Every change to the answer as it arrives, recorded in the page.
    page.evaluate(
        """() => {
            window.seen = [];
            new MutationObserver(() => {
                const last = document.querySelector('#chat-log .message.assistant:last-child .content');
                if (last && last.textContent !== window.seen.at(-1)) window.seen.push(last.textContent);
            }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    panel.get_by_label("Message").fill("Write a Python function that adds two numbers, in a code block.")
    panel.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-stats")).to_contain_text("tokens/s")
    seen: list[str] = page.evaluate("window.seen")
    assert len(seen) >= 5, seen
    # Word by word: each early view of the answer is the start of the next (later ones are re-rendered as
    # Markdown, where an opening code fence turns into a code block).
    assert all(b.startswith(a) for a, b in itertools.pairwise(seen[:5])), seen
    answer = page.locator("#chat-log .message.assistant .content")
    expect(answer.locator("pre.codeblock code")).to_contain_text("def ")
    expect(page.locator("#chat-stats")).to_contain_text("48 out")
    # The code for the request just made.
    page.get_by_text("Code for this request").first.click()
    snippets = page.locator("#panel-chat .snippets")
    expect(snippets).to_contain_text(f"curl {server.url}/v1/chat/completions")
    expect(snippets).to_contain_text("client.chat.completions.create(")
    expect(snippets).to_contain_text('"seed": 7')
    # Regenerate asks again from the same question.
    page.evaluate(
        """() => {
            window.answers = 0;
            new MutationObserver((changes) => {
                for (const change of changes) {
                    window.answers += [...change.addedNodes].filter((n) => n.matches?.('.message.assistant')).length;
                }
            }).observe(document.getElementById('chat-log'), {childList: true});
        }"""
    )
    panel.get_by_role("button", name="Regenerate").click()
    page.wait_for_function("() => window.answers === 1 && !document.querySelector('#chat-log [aria-busy]')")
    expect(page.locator("#chat-stats")).to_contain_text("tokens/s")
    expect(page.locator("#chat-log .message")).to_have_count(2)
    expect(answer.locator("pre.codeblock code")).to_contain_text("def ")


def test_chat_shows_a_tool_call(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    panel.get_by_label("Model").select_option("qwen2.5-coder-0.5b-instruct")
    page.get_by_text("Tools", exact=True).click()
    panel.get_by_role("button", name="Insert an example tool").click()
    panel.get_by_label("Tool choice").select_option("required")
    panel.get_by_label("Temperature").fill("0")
    panel.get_by_label("Message").fill("What is the weather in Paris?")
    panel.get_by_role("button", name="Send").click()
    call = page.locator(".tool-call")
    expect(call.locator("h4")).to_have_text("Tool call: get_weather")
    expect(call.locator("pre")).to_contain_text('"city"')
    expect(page.locator("#chat-stats")).to_contain_text("finish: tool_calls")
    # The tool's result goes back and the model answers it in words.
    panel.get_by_label("Tool choice").select_option("none")
    panel.get_by_label("Max tokens").fill("32")
    panel.get_by_label("Result of get_weather").fill('{"temperature_c": 21, "sky": "clear"}')
    panel.get_by_role("button", name="Send result").click()
    expect(page.locator("#chat-log .message.tool")).to_have_count(1)
    expect(page.locator("#chat-stats")).to_contain_text(re.compile(r"finish: (stop|length)"))
    expect(page.locator("#chat-log .message.assistant").nth(1).locator(".content")).not_to_be_empty()


def test_chat_markdown_never_runs_the_answer_as_html(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    panel.get_by_label("Model").select_option("echo")
    panel.get_by_label("Message").fill('**bold** <img src=x onerror="window.pwned=1"> `a<b>`')
    panel.get_by_role("button", name="Send").click()
    content = page.locator("#chat-log .message.assistant .content")
    expect(content.locator("strong")).to_have_text("bold")
    expect(content.locator("code")).to_have_text("a<b>")
    expect(content).to_contain_text("<img src=x")
    assert content.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_embeddings_heat_map_has_one_cell_per_pair(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Embeddings")
    panel.get_by_label("Model").select_option("all-MiniLM-L6-v2")
    texts = ["The cat sits on the mat.", "A kitten rests on a rug.", "Stocks fell today.", "Markets dropped.", "Hi"]
    panel.get_by_label("Texts, one per line").fill("\n".join(texts))
    panel.get_by_role("button", name="Compare").click()
    table = page.locator("table.heatmap")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("td.cell")).to_have_count(25)
    diagonal = [table.locator("tbody tr").nth(i).locator("td.cell").nth(i).text_content() for i in range(5)]
    assert diagonal == ["1.00"] * 5
    expect(page.locator("#embeddings-summary")).to_contain_text("5 vectors of 384 dimensions")


def test_speech_plays_and_downloads(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Speech")
    panel.get_by_label("Model").select_option("hibari")
    expect(page.locator("#speech-voice option", has_text="heart").first).to_be_attached()
    panel.get_by_label("Text", exact=True).fill("Hello from the playground.")
    panel.get_by_role("button", name="Speak").click()
    expect(page.locator("#speech-download")).to_be_visible()
    page.wait_for_function(
        "() => { const a = document.getElementById('speech-audio'); return isFinite(a.duration) && a.duration > 0.5 }"
    )
    # It plays: the clock moves.
    page.wait_for_function("() => document.getElementById('speech-audio').currentTime > 0")
    with page.expect_download() as download:
        page.locator("#speech-download").click()
    assert download.value.suggested_filename == "speech.mp3"
    expect(page.locator("#panel-speech .snippets")).to_contain_text("with_streaming_response.create(")


def _tone_wav(seconds: float, hertz: float) -> bytes:
    rate = 16_000
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * hertz * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())
    return out.getvalue()


def test_uploaded_clip_is_transcribed(page: Page, server: LiveServer, tmp_path: Path) -> None:
    clip = tmp_path / "tone.wav"
    clip.write_bytes(_tone_wav(1.5, 440))
    panel = open_tab(page, server, "Transcription")
    panel.get_by_label("Model").select_option("audio-length")
    panel.get_by_label("Audio file").set_input_files(clip)
    panel.get_by_role("button", name="Transcribe").click()
    expect(page.locator(".transcript")).to_have_text("1.50 seconds, peak 440 Hz")
    expect(page.locator("table.segments tbody tr")).to_have_count(1)
    expect(page.locator("table.segments tbody td").first).to_have_text("00:00:00.000")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download transcript.srt").click()
    srt = Path(download.value.path()).read_text()
    assert srt == "1\n00:00:00,000 --> 00:00:01,500\n1.50 seconds, peak 440 Hz\n"
    expect(page.locator("#panel-transcription .snippets")).to_contain_text("-F 'file=@tone.wav'")


def test_recording_from_the_microphone_is_transcribed(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Transcription")
    panel.get_by_label("Model").select_option("audio-length")
    panel.get_by_role("button", name="Record").click()
    page.wait_for_timeout(1200)
    panel.get_by_role("button", name="Stop recording").click()
    expect(page.locator("#transcription-source")).to_contain_text("Recording:")
    panel.get_by_role("button", name="Transcribe").click()
    expect(page.locator(".transcript")).to_have_text(re.compile(r"^\d+\.\d\d seconds, peak \d+ Hz$"))


def test_bad_request_shows_the_server_message(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Embeddings")
    panel.get_by_label("Model").select_option("hash-embed")
    panel.get_by_label("Dimensions").fill("4")
    panel.get_by_role("button", name="Compare").click()
    answer = httpx.post(f"{server.v1}/embeddings", json={"model": "hash-embed", "input": ["a"], "dimensions": 4})
    assert answer.status_code == 400
    alert = page.locator("#panel-embeddings .error")
    expect(alert).to_have_text(f"{answer.json()['error']['message']} (400)")


def test_server_gone_is_said_in_words(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    page.route("**/v1/chat/completions", lambda route: route.abort("connectionrefused"))
    panel.get_by_label("Model").select_option("echo")
    panel.get_by_label("Message").fill("hello")
    panel.get_by_role("button", name="Send").click()
    expect(page.locator("#panel-chat .error")).to_have_text("The server cannot be reached: is modelport still running?")


def test_busy_server_says_when_to_retry(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    body = '{"error": {"message": "The model `echo` is busy.", "type": "server_error", "param": null, "code": null}}'
    page.route(
        "**/v1/chat/completions",
        lambda route: route.fulfill(
            status=429, headers={"retry-after": "3"}, content_type="application/json", body=body
        ),
    )
    panel.get_by_label("Message").fill("hello")
    panel.get_by_role("button", name="Send").click()
    expect(panel.locator(".error")).to_have_text(
        "The server is busy (429): The model `echo` is busy. Try again in 3 s."
    )


def test_stop_ends_a_streaming_answer(page: Page, server: LiveServer) -> None:
    panel = open_tab(page, server, "Chat")
    panel.get_by_label("Model").select_option("shout")
    # `shout` waits `delay` seconds between words: a field of its own, sent through the extra fields.
    panel.get_by_label("Extra fields").fill('{"delay": 0.3}')
    panel.get_by_label("Message").fill("one two three four five six seven eight nine ten")
    panel.get_by_role("button", name="Send").click()
    answer = panel.locator(".message.assistant .content")
    expect(answer).to_contain_text("TWO")
    panel.get_by_role("button", name="Stop").click()
    expect(panel.locator("#chat-stats")).to_contain_text("finish: stopped")
    assert "TEN" not in answer.text_content()
    expect(panel.get_by_role("button", name="Send")).to_be_enabled()
    expect(panel.locator(".snippets")).to_contain_text('extra_body={ "delay": 0.3, }')


def test_api_key_prompt(page: Page, locked_server: LiveServer) -> None:
    page.goto(f"{locked_server.url}/")
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You didn't provide an API key")
    page.screenshot(path=ARTIFACTS / "test_api_key_prompt-dialog.png")
    dialog.get_by_label("Key").fill("wrong")
    dialog.get_by_role("button", name="Use this key").click()
    expect(dialog).to_contain_text("Incorrect API key provided.")
    dialog.get_by_label("Key").fill(API_KEY)
    dialog.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("tab", name="Chat", exact=True)).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('modelport-api-key')") == API_KEY
    # Requests carry it from then on.
    page.get_by_label("Message").fill("keyed hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-log .message.assistant .content")).to_have_text("keyed hello")
    expect(page.locator("#panel-chat .snippets")).to_contain_text("Authorization: Bearer $MODELPORT_API_KEY")


def test_phone_width(page: Page, server: LiveServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    panel = open_tab(page, server, "Chat")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    expect(panel.get_by_role("button", name="Send")).to_be_in_viewport()


def test_docs_render_offline(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .opblock-summary-path", has_text="/v1/chat/completions")).to_be_visible()


def _png(width: int, height: int) -> bytes:
    """A grey RGB PNG, written by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * 3 * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _sse(events: list[dict[str, object]], done: bool) -> str:
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events) + ("data: [DONE]\n\n" if done else "")


def test_voice_chat_and_image_tabs_follow_openai_shapes(page: Page, server: LiveServer) -> None:
    """The server's answers are stood in for in the browser, in OpenAI's shapes, with real speech from the
    built-in voice, to check exactly what the two tabs send and how they show what comes back."""
    models = httpx.get(f"{server.v1}/models").json()
    image_model = next(model["id"] for model in models["data"] if model.get("task") == "image")
    schema = httpx.get(f"{server.url}/openapi.json").json()
    schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]["transcription_model"] = {"type": "string"}
    spoken = httpx.post(
        f"{server.v1}/audio/speech", json={"model": "hibari", "input": "Sunny.", "voice": "heart"}, timeout=60
    ).content
    half = len(spoken) // 2
    answer = [
        {"choices": [{"index": 0, "delta": {"audio": {"id": "audio_1", "transcript": "Sun", "data": ""}}}]},
        {"choices": [{"index": 0, "delta": {"audio": {"data": base64.b64encode(spoken[:half]).decode()}}}]},
        {"choices": [{"index": 0, "delta": {"audio": {"transcript": "ny.", "data": ""}}}]},
        {"choices": [{"index": 0, "delta": {"audio": {"data": base64.b64encode(spoken[half:]).decode()}}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    pixel = base64.b64encode(_png(2, 3)).decode()
    images = [
        {"type": "image_generation.partial_image", "b64_json": pixel, "partial_image_index": 0},
        {"type": "image_generation.completed", "b64_json": pixel},
    ]
    sent: dict[str, dict[str, object]] = {}

    def reply(route: Route, body: str, content_type: str = "text/event-stream") -> None:
        sent[urlsplit(route.request.url).path] = route.request.post_data_json
        route.fulfill(status=200, content_type=content_type, body=body)

    page.route("**/v1/models", lambda route: route.fulfill(json=models))
    page.route("**/openapi.json", lambda route: route.fulfill(json=schema))
    page.route("**/v1/chat/completions", lambda route: reply(route, _sse(answer, done=True)))
    page.route("**/v1/images/generations", lambda route: reply(route, _sse(images, done=False)))

    panel = open_tab(page, server, "Voice chat")
    expect(page.get_by_role("tab")).to_have_text(
        ["Chat", "Embeddings", "Speech", "Transcription", "Voice chat", "Images"]
    )
    panel.get_by_label("Voice", exact=True).select_option("alloy")
    panel.get_by_role("button", name="Record").click()
    page.wait_for_timeout(800)
    panel.get_by_role("button", name="Stop recording").click()
    panel.get_by_role("button", name="Send").click()
    expect(panel.locator("#voice-log p")).to_have_text("Sunny.")
    page.wait_for_function(
        "() => { const a = document.querySelector('#voice-log audio');"
        " return a !== null && a.duration > 0 && isFinite(a.duration) }"
    )
    request = sent["/v1/chat/completions"]
    assert request["modalities"] == ["text", "audio"]
    assert request["audio"] == {"voice": "alloy", "format": "mp3"}
    part = request["messages"][0]["content"][0]  # type: ignore[index]
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "webm"
    assert base64.b64decode(part["input_audio"]["data"]).startswith(b"\x1a\x45\xdf\xa3")  # a WebM file

    page.get_by_role("tab", name="Images", exact=True).click()
    panel = page.get_by_role("tabpanel")
    panel.get_by_label("Seed").fill("3")
    panel.get_by_role("button", name="Generate").click()
    expect(panel.locator("#image-caption")).to_have_text("Final image")
    assert page.evaluate("document.getElementById('image-output').naturalWidth") == 2
    assert sent["/v1/images/generations"] == {
        "model": image_model,
        "prompt": "A lighthouse on a rocky shore at sunset",
        "size": "512x512",
        "seed": 3,
        "response_format": "b64_json",
        "stream": True,
        "partial_images": 2,
    }
    expect(panel.locator(".snippets")).to_contain_text("client.images.generate(")
