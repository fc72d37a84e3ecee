// The Network page (loaded only there): static-address fields follow the mode select, and while a
// change is under way the countdown runs and the page polls pbxd's state, reloading when the phase
// changes. When the box stops answering at this address (the change moved it), a notice points to the
// new address instead of replacing the page with the browser's error. Everything works without it.
"use strict";

(function () {
  document.querySelectorAll("[data-static-for]").forEach((fields) => {
    const mode = document.getElementById(fields.dataset.staticFor);
    if (!mode) return;
    const sync = () => { fields.hidden = mode.value !== "static"; };
    mode.addEventListener("change", sync);
    sync();
  });

  const change = document.querySelector("[data-network-phase]");
  if (!change) return;
  const phase = change.dataset.networkPhase;
  const url = change.dataset.stateUrl;
  const counter = change.querySelector("[data-countdown]");
  const lost = document.getElementById("network-lost");
  const POLL_MS = 2000;
  const TIMEOUT_MS = 3000;
  let left = counter ? Number(counter.textContent) : 0;

  if (counter) {
    window.setInterval(() => {
      if (left > 0) left -= 1;
      counter.textContent = String(left);
    }, 1000);
  }

  async function poll() {
    const abort = new AbortController();
    const timer = window.setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin",
                                           signal: abort.signal });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error(`status ${response.status}`);
      const data = await response.json();
      if (lost) lost.hidden = true;
      if (data.phase !== phase) { window.location.reload(); return; }
      if (counter && typeof data.seconds_left === "number") {
        left = Math.ceil(data.seconds_left);
        counter.textContent = String(left);
      }
    } catch (error) {
      if (lost) lost.hidden = false; // no answer here: the address probably moved
    } finally {
      window.clearTimeout(timer);
    }
    window.setTimeout(poll, POLL_MS);
  }
  window.setTimeout(poll, 1000);
})();
