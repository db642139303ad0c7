// The Speech tab: text to audio with the model's own voices; mp3 plays while it streams in.

import { call, compact, numberOf, pythonCall, showCode, showError } from "./api.js";

const $ = (id) => document.getElementById(id);
const MEDIA = { mp3: "audio/mpeg", wav: "audio/wav", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac", pcm: "audio/wav" };
const PCM_RATE = 24000;

let voiceLists = {};

/** Remember each speech model's voices (from /v1/audio/voices) and fill the voice lists. */
export function setVoices(lists) {
  voiceLists = lists;
  fillVoices($("speech-voice"), $("speech-model").value);
}

/** Options for a model's own voices, then the OpenAI names it also answers to. */
export function fillVoices(select, model) {
  const entry = voiceLists[model];
  const current = select.value;
  select.replaceChildren();
  if (!entry) return;
  const own = document.createElement("optgroup");
  own.label = "The model's voices";
  own.append(...entry.voices.map((v) => new Option(v, v)));
  select.append(own);
  const aliases = Object.entries(entry.aliases || {});
  if (aliases.length) {
    const names = document.createElement("optgroup");
    names.label = "OpenAI voice names";
    names.append(...aliases.map(([name, voice]) => new Option(`${name} (${voice})`, name)));
    select.append(names);
  }
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

// A WAV header in front of 16-bit mono PCM, so the browser can play and save it.
function wavOf(pcm) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (at, s) => [...s].forEach((c, i) => header.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + pcm.byteLength, true);
  text(8, "WAVEfmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, PCM_RATE, true);
  header.setUint32(28, PCM_RATE * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, pcm.byteLength, true);
  return new Blob([header, pcm], { type: "audio/wav" });
}

/** Play a streamed mp3 body through MediaSource as it arrives; resolves to the whole file. */
async function streamInto(audio, response) {
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  audio.src = url;
  await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
  const buffer = source.addSourceBuffer("audio/mpeg");
  const pieces = [];
  const reader = response.body.getReader();
  let started = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pieces.push(value);
    if (buffer.updating) await new Promise((r) => buffer.addEventListener("updateend", r, { once: true }));
    buffer.appendBuffer(value);
    await new Promise((r) => buffer.addEventListener("updateend", r, { once: true }));
    if (!started) {
      started = true;
      audio.play().catch(() => {});
    }
  }
  if (source.readyState === "open") source.endOfStream();
  return new Blob(pieces, { type: "audio/mpeg" });
}

export function setUpSpeech() {
  const panel = $("panel-speech");
  const audio = $("speech-audio");
  const link = $("speech-download");
  $("speech-model").addEventListener("change", () => fillVoices($("speech-voice"), $("speech-model").value));
  $("speech-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(panel, null);
    const format = $("speech-format").value;
    const body = compact({
      model: $("speech-model").value,
      input: $("speech-input").value,
      voice: $("speech-voice").value,
      response_format: format,
      speed: numberOf($("speech-speed")),
    });
    showCode(panel, {
      path: "/v1/audio/speech",
      json: body,
      output: `speech.${format}`,
      python: {
        source: `with ${pythonCall("client.audio.speech.with_streaming_response.create", body)} as response:\n    response.stream_to_file("speech.${format}")`,
      },
    });
    $("speech-submit").disabled = true;
    link.hidden = true;
    const started = performance.now();
    try {
      const response = await call("/v1/audio/speech", { json: body });
      let blob;
      if (format === "mp3" && window.MediaSource?.isTypeSupported("audio/mpeg")) {
        blob = await streamInto(audio, response);
      } else {
        const data = await response.arrayBuffer();
        blob = format === "pcm" ? wavOf(data) : new Blob([data], { type: MEDIA[format] });
        audio.src = URL.createObjectURL(blob);
        audio.play().catch(() => {});
      }
      const seconds = (performance.now() - started) / 1000;
      $("speech-stats").textContent = `${(blob.size / 1024).toFixed(1)} KiB of ${format} in ${seconds.toFixed(2)} s`;
      link.href = URL.createObjectURL(blob);
      link.download = `speech.${format === "pcm" ? "wav" : format}`;
      link.textContent = `Download ${link.download}`;
      link.hidden = false;
    } catch (error) {
      showError(panel, error);
    } finally {
      $("speech-submit").disabled = false;
    }
  });
}
