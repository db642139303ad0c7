// Talking to the server: the API key, errors in words, server-sent events, and the code shown for a request.

const KEY_STORE = "modelport-api-key";

/** An error to show the user as it is: `message` is already written for people. */
export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

let pendingKey = null;

/** Ask for a key in the dialog; resolves true once one is stored, false if the user cancels. */
export function askForKey(reason) {
  if (pendingKey) return pendingKey;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = apiKey();
  pendingKey = new Promise((resolve) => {
    const done = (saved) => {
      dialog.removeEventListener("close", onClose);
      document.getElementById("key-cancel").removeEventListener("click", onCancel);
      pendingKey = null;
      resolve(saved);
    };
    const onClose = () => {
      const saved = dialog.returnValue === "save" && input.value.trim() !== "";
      if (saved) sessionStorage.setItem(KEY_STORE, input.value.trim());
      done(saved);
    };
    const onCancel = () => {
      dialog.returnValue = "cancel";
      dialog.close();
    };
    dialog.addEventListener("close", onClose);
    document.getElementById("key-cancel").addEventListener("click", onCancel);
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
  return pendingKey;
}

async function errorFrom(response) {
  let message = "";
  try {
    const body = await response.json();
    message = body?.error?.message || (typeof body?.detail === "string" ? body.detail : "");
  } catch {
    // Not JSON: a proxy's page or an empty body; the status says enough.
  }
  const status = response.status;
  if (status === 429) {
    const after = response.headers.get("retry-after");
    const wait = after ? ` Try again in ${after} s.` : " Try again shortly.";
    return new ApiError(`The server is busy (429): ${message || "too many requests."}${wait}`, status);
  }
  if (status === 413) return new ApiError(`Too large (413): ${message || "the request body is over the server's limit."}`, status);
  if (status >= 500) return new ApiError(`The server failed (${status}): ${message || response.statusText}`, status);
  return new ApiError(`${message || response.statusText || "The request was refused."} (${status})`, status);
}

/**
 * A request to the server; JSON bodies from `json`, multipart ones from `form`. Answers 401 by asking for a
 * key and trying again; any other failure is thrown as an ApiError whose message is meant for people.
 */
export async function call(path, { json, form, signal, method } = {}) {
  for (;;) {
    let response;
    try {
      response = await fetch(path, {
        method: method || (json || form ? "POST" : "GET"),
        headers: headers(json ? { "Content-Type": "application/json" } : {}),
        body: json ? JSON.stringify(json) : form,
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("The server cannot be reached: is modelport still running?");
    }
    if (response.status === 401) {
      const reason = (await errorFrom(response)).message;
      if (await askForKey(`This server wants an API key. It said: ${reason}`)) continue;
      throw new ApiError("An API key is needed: use the “API key” button above to enter one.", 401);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }
}

/** The `data:` payloads of a server-sent event stream, parsed, until `[DONE]`; an error event is thrown. */
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (error.name === "AbortError") throw error;
        throw new ApiError("The connection to the server was lost before the answer was complete.");
      }
      if (chunk.done) break;
      buffer += chunk.value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(`The server stopped with an error: ${event.error.message || "unknown"}`);
        yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** The models the server lists, each with its `task`. */
export async function listModels() {
  const response = await call("/v1/models");
  return (await response.json()).data;
}

// ---- the code shown for the request just made ----

function pythonLiteral(value, indent = 0) {
  const pad = "    ".repeat(indent + 1);
  const close = "    ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof PythonCode) return value.code;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + pythonLiteral(v, indent + 1)).join(",\n")},\n${close}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 1)}`).join(",\n")},\n${close}}`;
}

/** Python source to put as it is in a snippet (a file handle, say), not as a literal. */
export class PythonCode {
  constructor(code) {
    this.code = code;
  }
}

/** `method(k=v, ...)` in Python, one argument a line. */
export function pythonCall(method, args) {
  const lines = Object.entries(args).map(([k, v]) => `    ${k}=${pythonLiteral(v, 1)},`);
  return `${method}(\n${lines.join("\n")}\n)`;
}

function shellQuote(text) {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Fill a panel's code box with curl and Python for one request. `request` is
 * { path, json | fields (multipart: [name, value] pairs; a File is written as @name), output,
 *   python: { method, args, assign, after } or { source } }.
 */
export function showCode(panel, request) {
  const base = location.origin;
  const keyHeader = apiKey() ? ` \\\n  -H "Authorization: Bearer $MODELPORT_API_KEY"` : "";
  let curl = `curl ${base}${request.path}${keyHeader}`;
  if (request.json) {
    curl += ` \\\n  -H "Content-Type: application/json" \\\n  -d ${shellQuote(JSON.stringify(request.json, null, 2))}`;
  } else if (request.fields) {
    for (const [name, value] of request.fields) {
      curl += value instanceof File ? ` \\\n  -F ${shellQuote(`${name}=@${value.name}`)}` : ` \\\n  -F ${shellQuote(`${name}=${value}`)}`;
    }
  }
  if (request.output) curl += ` \\\n  --output ${request.output}`;
  if (request.json?.stream) curl += " \\\n  --no-buffer";
  const key = apiKey() ? 'os.environ["MODELPORT_API_KEY"]' : '"unused"';
  const python = [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url="${base}/v1", api_key=${key})`,
    "",
    request.python.source ?? `${request.python.assign || "response"} = ${pythonCall(request.python.method, request.python.args)}`,
    ...(request.python.after ? [request.python.after] : []),
  ].join("\n");
  const box = panel.querySelector(".snippets");
  box.closest("details").hidden = false;
  box.replaceChildren();
  for (const [title, text] of [
    ["curl", curl],
    ["Python (openai)", python],
  ]) {
    const heading = document.createElement("h3");
    heading.textContent = title;
    const pre = document.createElement("pre");
    const code = document.createElement("code");
    code.textContent = text;
    pre.append(code);
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "secondary small";
    copy.textContent = `Copy ${title}`;
    copy.addEventListener("click", () => navigator.clipboard?.writeText(text));
    box.append(heading, pre, copy);
  }
}

/** Show `error` in the panel's alert line (hidden again when null); aborts are not errors. */
export function showError(panel, error) {
  const line = panel.querySelector(".error");
  if (!error || error.name === "AbortError") {
    line.hidden = true;
    line.textContent = "";
    return;
  }
  line.textContent = error instanceof ApiError ? error.message : `Something went wrong in the page: ${error.message}`;
  line.hidden = false;
}

/** Read a number input: undefined when empty, so the server's default applies. */
export function numberOf(input) {
  return input.value.trim() === "" ? undefined : Number(input.value);
}

/** Drop the keys whose value is undefined or "" (fields the user left empty). */
export function compact(object) {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined && v !== ""));
}

/** Parse a JSON field the user typed; a mistake is an ApiError naming the field. */
export function parseJsonField(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(`${what} is not valid JSON: ${error.message}`);
  }
}

/** Fill a <select> with models' ids, keeping the current choice when it is still there. */
export function fillModels(select, models) {
  const current = select.value;
  select.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
  if (models.some((m) => m.id === current)) select.value = current;
}

export function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
