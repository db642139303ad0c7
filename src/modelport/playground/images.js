// The Images tab (servers with an image model): prompt, size and seed in; previews while it works, then the image.

import { call, compact, events, numberOf, showCode, showError } from "./api.js";

const $ = (id) => document.getElementById(id);

export function setUpImages() {
  const panel = $("panel-image");
  const image = $("image-output");
  $("image-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(panel, null);
    const stream = $("image-stream").checked;
    const body = compact({
      model: $("image-model").value,
      prompt: $("image-prompt").value,
      size: $("image-size").value,
      seed: numberOf($("image-seed")),
      response_format: "b64_json",
      ...(stream ? { stream: true, partial_images: 2 } : {}),
    });
    const { seed, ...known } = body;
    const args = seed === undefined ? known : { ...known, extra_body: { seed } };
    showCode(panel, {
      path: "/v1/images/generations",
      json: body,
      python: {
        method: "client.images.generate",
        args,
        assign: stream ? "stream" : "response",
        after: stream
          ? "for event in stream:\n    print(event.type)"
          : 'import base64\n\nopen("image.png", "wb").write(base64.b64decode(response.data[0].b64_json))',
      },
    });
    $("image-submit").disabled = true;
    const started = performance.now();
    let previews = 0;
    const put = (b64, caption) => {
      image.src = `data:image/png;base64,${b64}`;
      image.alt = `${caption}: ${body.prompt}`;
      image.hidden = false;
      $("image-caption").textContent = caption;
    };
    try {
      const response = await call("/v1/images/generations", { json: body });
      if (stream) {
        for await (const item of events(response)) {
          if (item.type?.endsWith("partial_image")) put(item.b64_json, `Preview ${++previews}`);
          else if (item.type?.endsWith("completed")) put(item.b64_json, "Final image");
        }
      } else {
        put((await response.json()).data[0].b64_json, "Final image");
      }
      $("image-stats").textContent = `${((performance.now() - started) / 1000).toFixed(2)} s` + (previews ? ` · ${previews} preview${previews === 1 ? "" : "s"}` : "");
    } catch (error) {
      showError(panel, error);
    } finally {
      $("image-submit").disabled = false;
    }
  });
}
