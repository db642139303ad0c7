// A small Markdown renderer for chat answers. Every piece of text is HTML-escaped before any markup is added,
// so a model's output can never inject elements, attributes or scripts; links are kept only for http(s).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function inline(escaped) {
  // Code spans first, set aside so their contents get no further markup.
  const spans = [];
  let html = escaped.replace(/`([^`\n]+)`/g, (_, code) => {
    spans.push(`<code>${code}</code>`);
    return `\u0000${spans.length - 1}\u0000`;
  });
  html = html
    .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*([^*\n]+)\*(?![*\w])/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_([^_\n]+)_(?![_\w])/g, "$1<em>$2</em>")
    .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
  return html.replace(/\u0000(\d+)\u0000/g, (_, i) => spans[Number(i)]);
}

function blocks(text) {
  const out = [];
  let list = null;
  let paragraph = [];
  const flushParagraph = () => {
    if (paragraph.length) out.push(`<p>${paragraph.map((l) => inline(escapeHtml(l))).join("<br>")}</p>`);
    paragraph = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(escapeHtml(i))}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  for (const line of text.split("\n")) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flushParagraph();
      flushList();
      const level = Math.min(heading[1].length + 2, 6);
      out.push(`<h${level}>${inline(escapeHtml(heading[2]))}</h${level}>`);
    } else if (bullet || numbered) {
      flushParagraph();
      const tag = bullet ? "ul" : "ol";
      if (list && list.tag !== tag) flushList();
      list = list || { tag, items: [] };
      list.items.push((bullet || numbered)[1]);
    } else if (line.trim() === "") {
      flushParagraph();
      flushList();
    } else {
      flushList();
      paragraph.push(line);
    }
  }
  flushParagraph();
  flushList();
  return out.join("");
}

/** HTML for `text`; a code fence still open (the answer is streaming) renders as code up to the end. */
export function renderMarkdown(text) {
  const parts = [];
  const fence = /^```([^\n`]*)\n?/gm;
  let at = 0;
  for (;;) {
    fence.lastIndex = at;
    const open = fence.exec(text);
    if (!open) break;
    parts.push(blocks(text.slice(at, open.index)));
    const bodyStart = open.index + open[0].length;
    const close = text.indexOf("\n```", bodyStart - 1);
    const body = close < 0 ? text.slice(bodyStart) : text.slice(bodyStart, close + 1);
    const language = open[1].trim().replace(/[^\w+#.-]/g, "");
    const label = language ? `<span class="lang">${escapeHtml(language)}</span>` : "";
    parts.push(`<pre class="codeblock">${label}<code>${escapeHtml(body.replace(/\n$/, ""))}</code></pre>`);
    if (close < 0) {
      at = text.length;
      break;
    }
    const after = text.indexOf("\n", close + 4);
    at = after < 0 ? text.length : after + 1;
  }
  parts.push(blocks(text.slice(at)));
  return parts.join("");
}
