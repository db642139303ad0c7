// The Transcription tab: a file or a recording in; text, timed segments and subtitle files out.

import { ApiError, call, showCode, showError } from "./api.js";
import { extensionOf, recorderButton } from "./recorder.js";

const $ = (id) => document.getElementById(id);

function stamp(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

function srt(segments) {
  return segments.map((s, i) => `${i + 1}\n${stamp(s.start, ",")} --> ${stamp(s.end, ",")}\n${s.text.trim()}\n`).join("\n");
}

function vtt(segments) {
  return `WEBVTT\n\n${segments.map((s) => `${stamp(s.start, ".")} --> ${stamp(s.end, ".")}\n${s.text.trim()}\n`).join("\n")}`;
}

export function setUpTranscription() {
  const panel = $("panel-transcription");
  let audio = null; // A File: the upload or the recording.

  $("transcription-file").addEventListener("change", () => {
    audio = $("transcription-file").files[0] || null;
    $("transcription-source").textContent = audio ? `File: ${audio.name} (${(audio.size / 1024).toFixed(1)} KiB)` : "No audio chosen yet.";
  });
  recorderButton(
    $("transcription-record"),
    (blob) => {
      audio = new File([blob], `recording.${extensionOf(blob.type)}`, { type: blob.type });
      $("transcription-file").value = "";
      $("transcription-source").textContent = `Recording: ${(blob.size / 1024).toFixed(1)} KiB`;
    },
    (error) => showError(panel, new ApiError(error.message)),
  );

  $("transcription-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(panel, null);
    if (!audio) {
      showError(panel, new ApiError("Choose an audio file or record one first."));
      return;
    }
    const translate = $("transcription-translate").checked;
    const path = translate ? "/v1/audio/translations" : "/v1/audio/transcriptions";
    const fields = [
      ["model", $("transcription-model").value],
      ["response_format", "verbose_json"],
    ];
    if (!translate) fields.push(["timestamp_granularities[]", "segment"]);
    if (!translate && $("transcription-language").value.trim()) fields.push(["language", $("transcription-language").value.trim()]);
    if ($("transcription-prompt").value.trim()) fields.push(["prompt", $("transcription-prompt").value.trim()]);
    const form = new FormData();
    for (const [name, value] of fields) form.append(name, value);
    form.append("file", audio, audio.name);
    showCode(panel, {
      path,
      fields: [...fields, ["file", audio]],
      python: {
        source: [
          `with open(${JSON.stringify(audio.name)}, "rb") as audio:`,
          `    transcript = client.audio.${translate ? "translations" : "transcriptions"}.create(`,
          ...fields
            .filter(([name]) => name !== "timestamp_granularities[]")
            .map(([name, value]) => `        ${name}=${JSON.stringify(value)},`),
          ...(translate ? [] : ['        timestamp_granularities=["segment"],']),
          "        file=audio,",
          "    )",
          "print(transcript.text)",
        ].join("\n"),
      },
    });
    $("transcription-submit").disabled = true;
    const started = performance.now();
    try {
      const response = await call(path, { form });
      show(await response.json(), (performance.now() - started) / 1000);
    } catch (error) {
      showError(panel, error);
    } finally {
      $("transcription-submit").disabled = false;
    }
  });
}

function show(result, seconds) {
  const out = $("transcription-result");
  out.replaceChildren();
  const text = document.createElement("p");
  text.className = "transcript";
  text.textContent = result.text;
  const facts = document.createElement("p");
  facts.className = "stats";
  const parts = [`${seconds.toFixed(2)} s`];
  if (result.duration) parts.unshift(`${Number(result.duration).toFixed(2)} s of audio`);
  if (result.language) parts.push(`language: ${result.language}`);
  facts.textContent = parts.join(" · ");
  out.append(text, facts);
  const segments = result.segments || [];
  if (!segments.length) return;
  const table = document.createElement("table");
  table.className = "segments";
  table.innerHTML = "<caption>Segments</caption><thead><tr><th scope=col>Start</th><th scope=col>End</th><th scope=col>Text</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const s of segments) {
    const row = document.createElement("tr");
    for (const value of [stamp(s.start, "."), stamp(s.end, "."), s.text.trim()]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    body.append(row);
  }
  table.append(body);
  const downloads = document.createElement("div");
  downloads.className = "buttons";
  for (const [name, content, type] of [
    ["transcript.srt", srt(segments), "application/x-subrip"],
    ["transcript.vtt", vtt(segments), "text/vtt"],
  ]) {
    const link = document.createElement("a");
    link.className = "button secondary";
    link.href = URL.createObjectURL(new Blob([content], { type }));
    link.download = name;
    link.textContent = `Download ${name}`;
    downloads.append(link);
  }
  out.append(table, downloads);
}
