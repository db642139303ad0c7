// The Voice chat tab (servers whose chat models take and speak audio): record, send, hear the answer.
// Written against OpenAI's audio chat: input_audio parts in, modalities ["text", "audio"] with delta.audio out.

import { base64Of, call, events, pythonCall, showCode, showError } from "./api.js";
import { extensionOf, recorderButton } from "./recorder.js";

const $ = (id) => document.getElementById(id);

function bytesOf(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function setUpVoice() {
  const panel = $("panel-voice");
  const history = [];
  let recording = null;
  recorderButton(
    $("voice-record"),
    (blob) => {
      recording = blob;
      $("voice-send").disabled = false;
      $("voice-source").textContent = `Recorded ${(blob.size / 1024).toFixed(1)} KiB: send it.`;
    },
    (error) => showError(panel, error),
  );
  $("voice-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!recording) return;
    showError(panel, null);
    const format = extensionOf(recording.type);
    const part = { type: "input_audio", input_audio: { data: await base64Of(recording), format } };
    history.push({ role: "user", content: [part] });
    const body = {
      model: $("voice-model").value,
      modalities: ["text", "audio"],
      audio: { voice: $("voice-voice").value, format: "mp3" },
      messages: history,
      stream: true,
    };
    // The code shows the request without the recording's base64, which would fill the box.
    const shown = { ...body, messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "<base64 of the recording>", format } }] }] };
    showCode(panel, {
      path: "/v1/chat/completions",
      json: shown,
      python: { source: `stream = ${pythonCall("client.chat.completions.create", shown)}` },
    });
    recording = null;
    $("voice-send").disabled = true;
    const entry = document.createElement("article");
    entry.className = "message assistant";
    entry.setAttribute("aria-busy", "true");
    const transcript = document.createElement("p");
    entry.append(transcript);
    $("voice-log").append(entry);
    const pieces = [];
    let text = "";
    try {
      const response = await call("/v1/chat/completions", { json: body });
      for await (const chunk of events(response)) {
        for (const choice of chunk.choices || []) {
          const audio = choice.delta?.audio;
          if (audio?.data) pieces.push(bytesOf(audio.data));
          if (audio?.transcript) text += audio.transcript;
          if (choice.delta?.content) text += choice.delta.content;
          transcript.textContent = text;
        }
      }
      history.push({ role: "assistant", content: text });
      if (pieces.length) {
        const player = document.createElement("audio");
        player.controls = true;
        player.setAttribute("aria-label", "The spoken answer");
        player.src = URL.createObjectURL(new Blob(pieces, { type: "audio/mpeg" }));
        entry.append(player);
        player.play().catch(() => {});
      }
    } catch (error) {
      history.pop();
      entry.remove();
      showError(panel, error);
    } finally {
      entry.removeAttribute("aria-busy");
      $("voice-source").textContent = "Record the next question.";
    }
  });
}
