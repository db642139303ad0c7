// The Chat tab: a conversation streamed from /v1/chat/completions, rendered as Markdown, with tool calls.

import { ApiError, call, compact, events, numberOf, parseJsonField, showCode, showError } from "./api.js";
import { renderMarkdown } from "./markdown.js";

const EXAMPLE_TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "The current weather in a city.",
      parameters: {
        type: "object",
        properties: { city: { type: "string", description: "The city's name" } },
        required: ["city"],
      },
    },
  },
];

const $ = (id) => document.getElementById(id);

export function setUpChat() {
  const panel = $("panel-chat");
  const log = $("chat-log");
  const history = []; // OpenAI messages, without the system prompt.
  let controller = null;

  $("chat-format").addEventListener("change", () => {
    $("chat-schema-label").hidden = $("chat-format").value !== "json_schema";
  });
  $("chat-tools-example").addEventListener("click", () => {
    $("chat-tools").value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
  });
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("chat-input").value.trim();
    if (!text || controller) return;
    history.push({ role: "user", content: text });
    addBubble("user", text);
    $("chat-input").value = "";
    run();
  });
  $("chat-stop-button").addEventListener("click", () => controller?.abort());
  $("chat-regenerate").addEventListener("click", () => {
    if (controller) return;
    // Back to the last user message (or tool result), then ask again.
    while (history.length && history.at(-1).role === "assistant") {
      history.pop();
      log.lastElementChild?.remove();
    }
    if (history.length) run();
  });
  $("chat-clear").addEventListener("click", () => {
    controller?.abort();
    history.length = 0;
    log.replaceChildren();
    $("chat-stats").textContent = "";
    showError(panel, null);
    $("chat-regenerate").disabled = true;
  });

  function addBubble(role, text) {
    const bubble = document.createElement("article");
    bubble.className = `message ${role}`;
    const who = document.createElement("h3");
    who.className = "who";
    who.textContent = role === "user" ? "You" : role === "tool" ? "Tool result" : "Assistant";
    const body = document.createElement("div");
    body.className = "content";
    if (role === "assistant") body.innerHTML = renderMarkdown(text);
    else body.textContent = text;
    bubble.append(who, body);
    log.append(bubble);
    log.scrollTop = log.scrollHeight;
    return bubble;
  }

  function request() {
    const body = {
      model: $("chat-model").value,
      messages: [...($("chat-system").value.trim() ? [{ role: "system", content: $("chat-system").value.trim() }] : []), ...history],
      stream: true,
      stream_options: { include_usage: true },
    };
    Object.assign(
      body,
      compact({
        temperature: numberOf($("chat-temperature")),
        top_p: numberOf($("chat-top-p")),
        max_tokens: numberOf($("chat-max-tokens")),
        seed: numberOf($("chat-seed")),
      }),
    );
    const stop = $("chat-stop").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (stop.length) body.stop = stop;
    const format = $("chat-format").value;
    if (format === "json_object") body.response_format = { type: "json_object" };
    if (format === "json_schema") {
      const schema = parseJsonField($("chat-schema").value, "The JSON schema");
      body.response_format = { type: "json_schema", json_schema: { name: "answer", schema, strict: true } };
    }
    if ($("chat-tools").value.trim()) {
      const tools = parseJsonField($("chat-tools").value, "The tools");
      if (!Array.isArray(tools)) throw new ApiError("The tools must be a JSON list of tool definitions.");
      if (tools.length) {
        body.tools = tools;
        body.tool_choice = $("chat-tool-choice").value;
      }
    }
    if ($("chat-extra").value.trim()) {
      const extra = parseJsonField($("chat-extra").value, "The extra fields");
      if (typeof extra !== "object" || Array.isArray(extra) || extra === null) {
        throw new ApiError("The extra fields must be a JSON object.");
      }
      Object.assign(body, extra);
    }
    return body;
  }

  function codeFor(body) {
    const known = new Set(["model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format", "tools", "tool_choice"]);
    const args = {};
    const extra = {};
    for (const [k, v] of Object.entries(body)) (known.has(k) ? args : extra)[k] = v;
    if (Object.keys(extra).length) args.extra_body = extra;
    showCode(panel, {
      path: "/v1/chat/completions",
      json: body,
      python: {
        method: "client.chat.completions.create",
        assign: "stream",
        args,
        after: [
          "for chunk in stream:",
          "    if chunk.choices and chunk.choices[0].delta.content:",
          '        print(chunk.choices[0].delta.content, end="", flush=True)',
        ].join("\n"),
      },
    });
  }

  async function run() {
    showError(panel, null);
    let body;
    try {
      body = request();
    } catch (error) {
      showError(panel, error);
      return;
    }
    codeFor(body);
    $("chat-stats").textContent = "Waiting for the model…";
    controller = new AbortController();
    setBusy(true);
    const bubble = addBubble("assistant", "");
    bubble.setAttribute("aria-busy", "true");
    const content = bubble.querySelector(".content");
    let text = "";
    const calls = [];
    let usage = null;
    let finish = null;
    let first = 0;
    let chunks = 0;
    const started = performance.now();
    let scheduled = false;
    const paint = () => {
      scheduled = false;
      content.innerHTML = renderMarkdown(text);
      log.scrollTop = log.scrollHeight;
    };
    try {
      const response = await call("/v1/chat/completions", { json: body, signal: controller.signal });
      for await (const chunk of events(response)) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          const delta = choice.delta || {};
          if (delta.content) {
            if (!first) first = performance.now();
            chunks += 1;
            text += delta.content;
            // One repaint per frame however fast the tokens come.
            if (!scheduled) {
              scheduled = true;
              requestAnimationFrame(paint);
            }
          }
          for (const piece of delta.tool_calls || []) {
            if (!first) first = performance.now();
            const slot = (calls[piece.index ?? calls.length] ||= { id: "", type: "function", function: { name: "", arguments: "" } });
            if (piece.id) slot.id = piece.id;
            if (piece.function?.name) slot.function.name += piece.function.name;
            if (piece.function?.arguments) slot.function.arguments += piece.function.arguments;
            showCalls(bubble, calls, false);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    } catch (error) {
      if (error.name === "AbortError") finish = "stopped";
      else showError(panel, error);
    } finally {
      paint();
      bubble.removeAttribute("aria-busy");
      const message = { role: "assistant", content: text || null };
      if (calls.length) message.tool_calls = calls.filter(Boolean);
      if (text || calls.length) history.push(message);
      else bubble.remove();
      if (calls.length) showCalls(bubble, message.tool_calls, true);
      stats(usage, finish, started, first, chunks);
      controller = null;
      setBusy(false);
    }
  }

  function showCalls(bubble, calls, done) {
    let box = bubble.querySelector(".calls");
    if (!box) {
      box = document.createElement("div");
      box.className = "calls";
      bubble.append(box);
    }
    box.replaceChildren();
    for (const c of calls.filter(Boolean)) {
      const item = document.createElement("section");
      item.className = "tool-call";
      const title = document.createElement("h4");
      title.textContent = `Tool call: ${c.function.name || "…"}`;
      const args = document.createElement("pre");
      let shown = c.function.arguments;
      try {
        shown = JSON.stringify(JSON.parse(shown), null, 2);
      } catch {
        // Still streaming, or not JSON: show it as it came.
      }
      args.textContent = shown;
      item.append(title, args);
      if (done) item.append(resultForm(c));
      box.append(item);
    }
  }

  function resultForm(c) {
    // The user plays the tool: its result goes back as a `tool` message and the model answers.
    const form = document.createElement("form");
    form.className = "row";
    const field = document.createElement("div");
    field.className = "field grow";
    const label = document.createElement("label");
    label.textContent = `Result of ${c.function.name}`;
    const input = document.createElement("input");
    input.id = `tool-result-${c.id || Math.random().toString(36).slice(2)}`;
    input.placeholder = '{"temperature_c": 21}';
    label.htmlFor = input.id;
    field.append(label, input);
    const send = document.createElement("button");
    send.textContent = "Send result";
    form.append(field, send);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (controller) return;
      history.push({ role: "tool", tool_call_id: c.id, content: input.value || "null" });
      addBubble("tool", input.value || "null");
      form.remove();
      run();
    });
    return form;
  }

  function stats(usage, finish, started, first, chunks) {
    const end = performance.now();
    const parts = [];
    if (finish) parts.push(`finish: ${finish}`);
    if (first) parts.push(`first token after ${((first - started) / 1000).toFixed(2)} s`);
    const tokens = usage?.completion_tokens ?? chunks;
    const seconds = (end - (first || started)) / 1000;
    if (usage) parts.push(`tokens: ${usage.prompt_tokens} in, ${usage.completion_tokens} out`);
    if (tokens && seconds > 0) parts.push(`${(tokens / seconds).toFixed(1)} tokens/s`);
    $("chat-stats").textContent = parts.join(" · ");
  }

  function setBusy(busy) {
    $("chat-send").disabled = busy;
    $("chat-stop-button").disabled = !busy;
    $("chat-regenerate").disabled = busy || history.length === 0;
  }
}
