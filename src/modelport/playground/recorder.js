// Recording from the microphone with MediaRecorder: one button that starts and stops.

/** Wire `button` to record; `onDone(blob)` gets the recording (webm or ogg, whatever the browser makes). */
export function recorderButton(button, onDone, onError) {
  let recorder = null;
  const idle = button.textContent;
  button.addEventListener("click", async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      onError(new Error(`The microphone is not available: ${error.message}`));
      return;
    }
    const pieces = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => pieces.push(event.data));
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = recorder.mimeType || "audio/webm";
      recorder = null;
      button.textContent = idle;
      button.setAttribute("aria-pressed", "false");
      onDone(new Blob(pieces, { type }));
    });
    recorder.start();
    button.textContent = "Stop recording";
    button.setAttribute("aria-pressed", "true");
  });
}

/** The file extension the server should decode a recording's type as. */
export function extensionOf(type) {
  if (type.includes("ogg")) return "ogg";
  if (type.includes("mp4")) return "m4a";
  if (type.includes("wav")) return "wav";
  return "webm";
}
