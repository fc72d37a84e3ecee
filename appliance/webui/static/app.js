// The web UI's only script (no framework): keypad, confirmations, navigation toggle, the live status
// poll (extension table, daemon banner) and desktop notifications of calls ringing the user.
// Everything works without it; it only makes pages livelier. The browser phone will be a separate
// module mounting into #browser-phone on the dial page and reading #dial-number.
"use strict";

(function () {
  const POLL_MS = 3000;
  const body = document.body;

  // -- navigation toggle on narrow screens ---------------------------------------------------------------
  const toggle = document.querySelector(".nav-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // -- confirmation of destructive forms, auto-submitting selects ------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form && select.form.submit());
  });

  // -- keypad ----------------------------------------------------------------------------------------
  const number = document.getElementById("dial-number");
  if (number) {
    const allowed = /[0-9*#+]/;
    document.querySelectorAll(".keypad .key").forEach((key) => {
      key.addEventListener("click", () => {
        number.value += key.dataset.key;
        number.focus();
        number.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    const back = document.getElementById("dial-backspace");
    if (back) back.addEventListener("click", () => { number.value = number.value.slice(0, -1); number.focus(); });
    number.addEventListener("keydown", (event) => {
      if (event.key.length === 1 && !allowed.test(event.key) && !event.ctrlKey && !event.metaKey && !/[\s\-().]/.test(event.key)) {
        event.preventDefault();
      }
    });
  }

  // -- desktop notifications -------------------------------------------------------------------------
  const notifySupported = "Notification" in window;
  const notifyButtons = [document.getElementById("notify-enable"), document.getElementById("notify-enable-settings")].filter(Boolean);
  const notifyState = document.getElementById("notify-state");
  function showNotifyState() {
    const permission = notifySupported ? Notification.permission : "unsupported";
    notifyButtons.forEach((button) => { button.hidden = permission !== "default"; });
    if (notifyState) {
      notifyState.textContent = {
        granted: "Notifications are on for this browser.",
        denied: "This browser blocks notifications from this site; allow them in its site settings.",
        default: "Notifications are off.",
        unsupported: "This browser cannot show notifications.",
      }[permission];
    }
  }
  notifyButtons.forEach((button) => button.addEventListener("click", () => {
    if (notifySupported) Notification.requestPermission().then(showNotifyState);
  }));
  if (body.dataset.role === "extension") showNotifyState();

  const announced = new Set();
  function notifyIncoming(calls) {
    const current = new Set();
    calls.forEach((call) => {
      current.add(call.id);
      if (announced.has(call.id)) return;
      announced.add(call.id);
      if (!notifySupported || Notification.permission !== "granted") return;
      // The browser phone (dial page) announces the calls that ring it, with an answer button on the page.
      if (window.browserPhone && window.browserPhone.state().registered) return;
      const who = call.caller_name ? `${call.caller_name} (${call.caller})` : call.caller;
      const note = new Notification("Incoming call", { body: `From ${who}`, tag: `call-${call.id}` });
      note.onclick = () => { window.focus(); note.close(); };
    });
    // forget calls that stopped ringing, so the set stays small
    Array.from(announced).forEach((id) => { if (!current.has(id)) announced.delete(id); });
  }

  // -- live status poll ------------------------------------------------------------------------------
  const pollUrl = body.dataset.pollUrl;
  const banner = document.getElementById("daemon-banner");
  const liveTable = document.querySelector("[data-live-status]");
  const wantsPoll = pollUrl && (liveTable || body.dataset.role === "extension");

  function updateTable(extensions) {
    if (!liveTable) return;
    extensions.forEach((ext) => {
      const row = liveTable.querySelector(`tr[data-number="${CSS.escape(ext.number)}"]`);
      const badge = row && row.querySelector("[data-status]");
      if (!badge || badge.textContent === ext.status) return;
      badge.textContent = ext.status;
      badge.className = `badge badge-${ext.status.replace(/\s+/g, "")}`;
    });
  }

  async function poll() {
    try {
      const response = await fetch(pollUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401) {
        window.location.href = body.dataset.loginUrl;
        return;
      }
      if (!response.ok) throw new Error(`status ${response.status}`);
      const data = await response.json();
      if (banner) {
        banner.hidden = data.daemon !== false;
        banner.textContent = data.daemon === false ? `Live status is not available: ${data.message}.` : "";
      }
      updateTable(data.extensions || []);
      notifyIncoming(data.incoming || []);
    } catch (error) {
      // the network blipped or the web server restarts; try again at the next tick
    }
    window.setTimeout(poll, POLL_MS);
  }
  if (wantsPoll) window.setTimeout(poll, liveTable ? 0 : POLL_MS);
})();
