// The playground's start: list the models, show a tab for each capability the server offers, wire the tabs.

import { ApiError, apiKey, askForKey, call, fillModels, listModels } from "./api.js";
import { setUpChat } from "./chat.js";
import { setUpEmbeddings } from "./embeddings.js";
import { setUpImages } from "./images.js";
import { fillVoices, setUpSpeech, setVoices } from "./speech.js";
import { setUpTranscription } from "./transcription.js";
import { setUpVoice } from "./voice.js";

const $ = (id) => document.getElementById(id);

// Tab id, its title, and which of the listed models it offers.
const TABS = [
  ["chat", "Chat", (m) => m.task === "chat"],
  ["embeddings", "Embeddings", (m) => m.task === "embeddings"],
  ["speech", "Speech", (m) => m.task === "speech"],
  ["transcription", "Transcription", (m) => m.task === "transcription"],
  // Any chat model, on a server that hears and speaks around chat (see audioChat below).
  ["voice", "Voice chat", (m) => m.task === "chat"],
  ["image", "Images", (m) => m.task === "image"],
];

function select(id) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const chosen = tab.id === `tab-${id}`;
    tab.setAttribute("aria-selected", String(chosen));
    tab.tabIndex = chosen ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !chosen;
  }
  history.replaceState(null, "", `#${id}`);
}

function buildTabs(offered) {
  const list = $("tabs");
  list.replaceChildren();
  for (const [id, title] of offered) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.id = `tab-${id}`;
    tab.textContent = title;
    tab.setAttribute("aria-controls", `panel-${id}`);
    tab.addEventListener("click", () => select(id));
    list.append(tab);
  }
  // Arrow keys move between tabs, as in every tab list; Tab moves into the panel.
  list.addEventListener("keydown", (event) => {
    const tabs = [...list.querySelectorAll("[role=tab]")];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const target = tabs[(next + tabs.length) % tabs.length];
    target.focus();
    target.click();
  });
}

/**
 * Whether the server does voice chat: it has speech and transcription models to put around chat, and its
 * chat request takes the `transcription_model` field that comes with hearing `input_audio` parts.
 */
async function audioChat(models) {
  if (!["chat", "speech", "transcription"].every((task) => models.some((m) => m.task === task))) return false;
  try {
    const schema = await (await fetch("/openapi.json")).json();
    return Boolean(schema.components?.schemas?.ChatCompletionRequest?.properties?.transcription_model);
  } catch {
    return false;
  }
}

async function start() {
  const status = $("status");
  let models;
  try {
    models = await listModels();
  } catch (error) {
    status.textContent = error instanceof ApiError ? error.message : `The models could not be listed: ${error.message}`;
    status.classList.add("error");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Try again";
    retry.addEventListener("click", () => location.reload());
    status.append(" ", retry);
    return;
  }
  const voice = await audioChat(models);
  const offered = TABS.filter(([id, , fits]) => (id !== "voice" || voice) && models.some(fits));
  for (const [id, , fits] of TABS) fillModels($(`${id}-model`), models.filter(fits));
  buildTabs(offered);
  if (!offered.length) {
    status.textContent = "This server serves no model yet: start it with a target, e.g. `modelport serve examples/`.";
    return;
  }
  status.textContent = `${models.length} models on this server. Pick a tab; every request shows its curl and Python code below it.`;
  if (offered.some(([id]) => id === "speech" || id === "voice")) {
    try {
      const voices = await (await call("/v1/audio/voices")).json();
      setVoices(Object.fromEntries(voices.data.map((v) => [v.model, v])));
      // Voice chat speaks through one of the server's speech models: offer the voices of the first that
      // answers to OpenAI's voice names, as an audio chat request names its voice that way.
      const voiceModel = voices.data.find((v) => Object.keys(v.aliases || {}).length) || voices.data[0];
      if (voiceModel) fillVoices($("voice-voice"), voiceModel.model);
    } catch {
      // The Speech tab still works with a typed voice: the server's 400 names the valid ones.
    }
  }
  const wanted = location.hash.slice(1);
  select(offered.some(([id]) => id === wanted) ? wanted : offered[0][0]);
}

$("key-button").addEventListener("click", async () => {
  if (await askForKey(apiKey() ? "Change the API key used by this tab." : "Enter the server's API key.")) location.reload();
});
setUpChat();
setUpEmbeddings();
setUpSpeech();
setUpTranscription();
setUpVoice();
setUpImages();
start();
