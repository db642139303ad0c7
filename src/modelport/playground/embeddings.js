// The Embeddings tab: several texts in, a table of their cosine similarities out, coloured as a heat map.

import { call, compact, numberOf, showCode, showError } from "./api.js";

const $ = (id) => document.getElementById(id);

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

// -1 is blue, 0 white, 1 red: readable in both colour schemes because each cell also shows its number.
function colour(value) {
  const v = Math.max(-1, Math.min(1, value));
  const strength = Math.round(Math.abs(v) * 200);
  return v >= 0 ? `rgb(255, ${255 - strength}, ${255 - strength})` : `rgb(${255 - strength}, ${255 - strength}, 255)`;
}

export function setUpEmbeddings() {
  const panel = $("panel-embeddings");
  $("embeddings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(panel, null);
    const texts = $("embeddings-input").value.split("\n").map((t) => t.trim()).filter(Boolean);
    const body = compact({ model: $("embeddings-model").value, input: texts, dimensions: numberOf($("embeddings-dimensions")) });
    showCode(panel, {
      path: "/v1/embeddings",
      json: body,
      python: { method: "client.embeddings.create", args: body, after: "vectors = [item.embedding for item in response.data]" },
    });
    const button = event.submitter;
    if (button) button.disabled = true;
    const started = performance.now();
    try {
      const response = await call("/v1/embeddings", { json: body });
      const result = await response.json();
      const vectors = result.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
      const seconds = (performance.now() - started) / 1000;
      $("embeddings-summary").textContent =
        `${vectors.length} vectors of ${vectors[0]?.length ?? 0} dimensions in ${seconds.toFixed(2)} s` +
        (result.usage ? ` · ${result.usage.prompt_tokens} tokens` : "");
      draw(texts, vectors);
    } catch (error) {
      showError(panel, error);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

function draw(texts, vectors) {
  const table = document.createElement("table");
  table.className = "heatmap";
  const caption = document.createElement("caption");
  caption.textContent = "Cosine similarity between each pair of texts (1 = same direction)";
  const head = document.createElement("tr");
  head.append(document.createElement("td"));
  texts.forEach((_, j) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = `#${j + 1}`;
    th.title = texts[j];
    head.append(th);
  });
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  vectors.forEach((a, i) => {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = `#${i + 1} ${texts[i]}`;
    row.append(th);
    vectors.forEach((b, j) => {
      const value = cosine(a, b);
      const cell = document.createElement("td");
      cell.className = "cell";
      cell.textContent = value.toFixed(2);
      cell.style.background = colour(value);
      cell.title = `#${i + 1} · #${j + 1}: ${value.toFixed(4)}`;
      row.append(cell);
    });
    tbody.append(row);
  });
  table.append(caption, thead, tbody);
  $("embeddings-map").replaceChildren(table);
}
