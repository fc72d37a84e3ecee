// The voicemail page's script (no library). Everything works without it; it adds three things:
//  - a message starts playing -> it is marked read (as a phone's menu does), in place, without a reload;
//    "Mark read/unread" also works in place, and only one message plays at a time;
//  - a greeting can be recorded with the computer's microphone: MediaRecorder records (webm/ogg, whatever
//    the browser makes), the browser decodes it, an OfflineAudioContext resamples it to 8 kHz mono, and
//    the tiny encoder below writes a 16-bit PCM WAV that is uploaded like a chosen file;
//  - the name field of the upload form shows only for "another greeting".
"use strict";

(function () {
  const RATE = 8000;

  function csrfOf(form) {
    const input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  async function postForm(form, body) {
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfOf(form) },
    });
    let reply = null;
    try { reply = await response.json(); } catch (error) { reply = null; }
    if (!response.ok || !reply) {
      const failure = new Error(response.status === 413 ? "The recording is too large to upload." : `The box answered ${response.status}.`);
      failure.reply = reply;
      throw failure;
    }
    return reply;
  }

  // -- messages: counts, read state ---------------------------------------------------------------------
  function showCounts(counts) {
    if (!counts) return;
    document.querySelectorAll("#vm-counts [data-count]").forEach((span) => {
      const value = counts[span.dataset.count];
      if (value !== undefined) span.textContent = String(value);
    });
  }

  function showRead(row, read) {
    row.dataset.read = read ? "1" : "0";
    row.classList.toggle("vm-unread", !read);
    const badge = row.querySelector("[data-state]");
    if (badge) {
      badge.textContent = read ? "read" : "new";
      badge.className = `badge ${read ? "badge-vm-read" : "badge-vm-new"}`;
    }
    const form = row.querySelector("form[data-vm-mark]");
    if (form) {
      form.querySelector("input[name=read]").value = read ? "0" : "1";
      form.querySelector("button").textContent = read ? "Mark unread" : "Mark read";
    }
  }

  async function mark(row, form, read) {
    const body = new FormData(form);
    body.set("read", read ? "1" : "0");
    const reply = await postForm(form, body);
    showRead(row, read);
    showCounts(reply.counts);
  }

  const players = Array.from(document.querySelectorAll("audio"));
  players.forEach((player) => player.addEventListener("play", () => {
    players.forEach((other) => { if (other !== player && !other.paused) other.pause(); });
  }));

  document.querySelectorAll("#vm-messages tr[data-message]").forEach((row) => {
    const form = row.querySelector("form[data-vm-mark]");
    const player = row.querySelector("audio[data-vm-player]");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const read = form.querySelector("input[name=read]").value === "1";
      mark(row, form, read).catch(() => form.submit());
    });
    if (player) {
      player.addEventListener("play", () => {
        if (row.dataset.read === "1") return;
        mark(row, form, true).catch(() => { /* the buttons still work; the next page load shows the state */ });
      });
    }
  });

  // -- the upload form: the name field only for "another greeting" ------------------------------------------
  const uploadForm = document.getElementById("greeting-form");
  if (!uploadForm) return;
  const kind = uploadForm.querySelector("select[name=kind]");
  const nameInput = uploadForm.querySelector("input[name=name]");
  const nameField = nameInput ? nameInput.closest(".field") : null;
  function showName() {
    if (nameField) nameField.hidden = kind.value !== "custom" && !nameField.classList.contains("has-error");
  }
  if (kind) {
    kind.addEventListener("change", showName);
    showName();
  }

  // -- recording a greeting ---------------------------------------------------------------------------------
  const recorder = document.getElementById("vm-recorder");
  const Context = window.AudioContext || window.webkitAudioContext;
  const canRecord = recorder && window.MediaRecorder && Context && window.OfflineAudioContext
    && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  if (!canRecord) return;
  recorder.hidden = false;

  const startButton = document.getElementById("rec-start");
  const stopButton = document.getElementById("rec-stop");
  const saveButton = document.getElementById("rec-save");
  const clock = document.getElementById("rec-time");
  const preview = document.getElementById("rec-preview");
  const problem = document.getElementById("rec-error");
  const maxSeconds = Number(uploadForm.dataset.maxSeconds || "120");
  let media = null;
  let stream = null;
  let chunks = [];
  let started = 0;
  let ticker = null;
  let wav = null;

  function say(text) {
    problem.textContent = text || "";
    problem.hidden = !text;
  }

  function showTime(seconds) {
    const whole = Math.floor(seconds);
    clock.textContent = `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  // A canonical 44-byte RIFF header and little-endian 16-bit samples: what appliance.media.wav reads.
  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const view = new DataView(buffer);
    const text = (offset, value) => { for (let i = 0; i < value.length; i += 1) view.setUint8(offset + i, value.charCodeAt(i)); };
    text(0, "RIFF");
    view.setUint32(4, 36 + samples.length * 2, true);
    text(8, "WAVE");
    text(12, "fmt ");
    view.setUint32(16, 16, true); // fmt chunk size
    view.setUint16(20, 1, true); // PCM
    view.setUint16(22, 1, true); // mono
    view.setUint32(24, rate, true);
    view.setUint32(28, rate * 2, true); // bytes per second
    view.setUint16(32, 2, true); // block align
    view.setUint16(34, 16, true); // bits per sample
    text(36, "data");
    view.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i += 1) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  async function toWav(blob) {
    const context = new Context();
    let decoded;
    try {
      decoded = await context.decodeAudioData(await blob.arrayBuffer());
    } finally {
      context.close();
    }
    // One output channel: the offline context mixes any input down; its resampler does the rate.
    const frames = Math.max(1, Math.ceil(decoded.duration * RATE));
    const offline = new OfflineAudioContext(1, frames, RATE);
    const source = offline.createBufferSource();
    source.buffer = decoded;
    source.connect(offline.destination);
    source.start();
    const rendered = await offline.startRendering();
    return encodeWav(rendered.getChannelData(0), RATE);
  }

  function stopRecording() {
    if (ticker) window.clearInterval(ticker);
    ticker = null;
    if (media && media.state !== "inactive") media.stop();
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    recorder.classList.remove("recording");
    stopButton.disabled = true;
    startButton.disabled = false;
  }

  startButton.addEventListener("click", async () => {
    say("");
    wav = null;
    saveButton.hidden = true;
    preview.hidden = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      say(`The microphone is not available: ${error.message || error.name}.`);
      return;
    }
    chunks = [];
    media = new MediaRecorder(stream);
    media.addEventListener("dataavailable", (event) => { if (event.data && event.data.size) chunks.push(event.data); });
    media.addEventListener("stop", async () => {
      try {
        wav = await toWav(new Blob(chunks, { type: media.mimeType }));
        preview.src = URL.createObjectURL(wav);
        preview.hidden = false;
        saveButton.hidden = false;
      } catch (error) {
        say(`The recording could not be converted: ${error.message || error.name}.`);
      }
    });
    media.start(250);
    started = performance.now();
    showTime(0);
    recorder.classList.add("recording");
    startButton.disabled = true;
    stopButton.disabled = false;
    ticker = window.setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      showTime(seconds);
      if (seconds >= maxSeconds) stopRecording();
    }, 200);
  });

  stopButton.addEventListener("click", stopRecording);

  saveButton.addEventListener("click", async () => {
    if (!wav) return;
    say("");
    saveButton.disabled = true;
    const body = new FormData(uploadForm);
    body.delete("file");
    body.append("file", wav, "greeting.wav");
    try {
      await postForm(uploadForm, body);
      window.location.reload();
    } catch (error) {
      const errors = (error.reply && error.reply.errors) || {};
      const messages = Object.values(errors);
      say(messages.length ? messages.join(" ") : error.message);
      saveButton.disabled = false;
    }
  });
})();
