// The browser phone on the dial page: JsSIP over a secure WebSocket to pbxd, WebRTC audio to the box.
//
// It mounts into #browser-phone, asks /dial/phone (POST, CSRF header) for a short-lived token that works
// only on the WebSocket it opens (the SIP secret never comes to the browser), registers the user's
// extension, and offers: call (the number in #dial-number), answer/reject with a desktop notification,
// hang-up, hold, DTMF from the page's keypad, and the remote audio in an <audio> element.
// A small API on window.browserPhone lets the end-to-end tests drive it and read what is heard
// (WebAudio AnalyserNode: loudest frequency and level of the remote audio).
"use strict";

(function () {
  const mount = document.getElementById("browser-phone");
  if (!mount || !mount.dataset.credentialsUrl) return;
  const numberInput = document.getElementById(mount.dataset.dialInput || "dial-number");
  const callButton = document.getElementById("call-from-browser");
  const csrfInput = document.querySelector("input[name=csrf_token]");
  const ICE = { iceServers: [] }; // the box is the media end point: no STUN/TURN needed on its LAN
  const events = []; // what happened, for the status line's history and for tests

  // -- the widget ---------------------------------------------------------------------------------------
  mount.innerHTML = `
    <div class="bp-status" aria-live="polite"><span class="badge badge-unknown" id="bp-state">Starting</span>
      <span class="bp-detail muted" id="bp-detail"></span></div>
    <div class="bp-incoming banner banner-warn" id="bp-incoming" hidden>
      <p><strong>Incoming call</strong> <span id="bp-caller"></span></p>
      <button type="button" class="btn btn-primary" id="bp-answer">Answer</button>
      <button type="button" class="btn btn-danger" id="bp-reject">Reject</button>
    </div>
    <div class="bp-controls" id="bp-controls" hidden>
      <button type="button" class="btn" id="bp-hold" aria-pressed="false">Hold</button>
      <button type="button" class="btn btn-danger" id="bp-hangup">Hang up</button>
      <span class="muted bp-dtmf" id="bp-dtmf">Keypad sends tones during the call.</span>
    </div>
    <audio id="bp-audio" autoplay></audio>`;
  const $ = (id) => document.getElementById(id);
  const stateBadge = $("bp-state");
  const detail = $("bp-detail");
  const audioOut = $("bp-audio");

  function show(state, text, badge) {
    stateBadge.textContent = state;
    stateBadge.className = `badge badge-${badge || "unknown"}`;
    detail.textContent = text || "";
    events.push({ at: Date.now(), state, text });
    if (events.length > 200) events.shift();
  }
  function note(type, data) { events.push(Object.assign({ at: Date.now(), type }, data || {})); }

  // -- credentials and the WebSocket (a JsSIP Socket that fetches a fresh token before each connect) ------
  async function fetchCredentials() {
    const response = await fetch(mount.dataset.credentialsUrl, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfInput ? csrfInput.value : "" },
    });
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok || !data || !data.ok) {
      throw new Error((data && data.error) || (response.status === 401 || response.redirected
        ? "Your session has ended: log in again." : `The box answered ${response.status}.`));
    }
    return data;
  }

  class TokenSocket {
    constructor(credentials, onToken) {
      this._credentials = credentials; // the first connect uses the token fetched at start-up
      this._onToken = onToken;
      this._ws = null;
      this._fetching = false;
      const url = new URL(credentials.url);
      this.url = credentials.url;
      this.via_transport = "WSS";
      this.sip_uri = `sip:${url.hostname}:${url.port};transport=ws`;
    }
    connect() {
      if (this.isConnected() || this.isConnecting()) return;
      this._fetching = true;
      const ready = this._credentials ? Promise.resolve(this._credentials) : fetchCredentials();
      this._credentials = null;
      ready.then((credentials) => {
        this._fetching = false;
        this._onToken(credentials);
        const ws = new WebSocket(`${credentials.url}?token=${encodeURIComponent(credentials.token)}`, "sip");
        ws.binaryType = "arraybuffer";
        ws.onopen = () => this.onconnect();
        ws.onclose = (e) => { if (this._ws === ws) { this._ws = null; this.ondisconnect(!e.wasClean, e.code, e.reason); } };
        ws.onmessage = (e) => this.ondata(e.data);
        this._ws = ws;
      }).catch((error) => {
        this._fetching = false;
        show("Offline", error.message, "unavailable");
        this.ondisconnect(true, 0, error.message);
      });
    }
    disconnect() {
      const ws = this._ws;
      this._ws = null;
      if (ws) { ws.onopen = ws.onclose = ws.onmessage = null; ws.close(); }
    }
    send(message) {
      if (!this.isConnected()) return false;
      this._ws.send(message);
      return true;
    }
    isConnected() { return !!this._ws && this._ws.readyState === WebSocket.OPEN; }
    isConnecting() { return this._fetching || (!!this._ws && this._ws.readyState === WebSocket.CONNECTING); }
  }

  // -- what the browser hears: <audio> plus a WebAudio analyser ------------------------------------------
  let audioContext = null;
  let analyser = null;
  function resumeAudio() {
    if (!audioContext) audioContext = new (window.AudioContext || window.webkitAudioContext)();
    if (audioContext.state === "suspended") audioContext.resume();
  }
  function attachRemote(stream) {
    audioOut.srcObject = stream; // Chrome only feeds WebAudio from a remote stream that also plays somewhere
    const played = audioOut.play();
    if (played && played.catch) played.catch(() => show("In call", "Click anywhere to hear the call.", "inuse"));
    try {
      resumeAudio();
      analyser = audioContext.createAnalyser();
      analyser.fftSize = 8192;
      audioContext.createMediaStreamSource(stream).connect(analyser);
    } catch (error) {
      analyser = null;
    }
  }
  function heard() {
    if (!analyser) return { hz: 0, db: -Infinity };
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return { hz: (best * audioContext.sampleRate) / analyser.fftSize, db: bins[best] };
  }

  // -- the phone ------------------------------------------------------------------------------------------
  let ua = null;
  let session = null;
  let held = false;
  let extension = "";

  function setInCall(active) {
    $("bp-controls").hidden = !active;
    if (callButton) callButton.hidden = active || !ua || !ua.isRegistered();
    if (!active) { held = false; $("bp-hold").textContent = "Hold"; $("bp-hold").setAttribute("aria-pressed", "false"); }
  }

  function peerOf(s) {
    const identity = s.remote_identity;
    const who = identity && identity.uri ? identity.uri.user : "";
    return identity && identity.display_name ? `${identity.display_name} (${who})` : who;
  }

  function track(s) {
    session = s;
    const who = peerOf(s);
    s.on("peerconnection", ({ peerconnection }) => {
      peerconnection.addEventListener("track", (e) => attachRemote(e.streams[0] || new MediaStream([e.track])));
    });
    if (s.connection) s.connection.addEventListener("track", (e) => attachRemote(e.streams[0] || new MediaStream([e.track])));
    s.on("progress", () => { note("progress"); if (s.direction === "outgoing") show("Ringing", `Calling ${who}…`, "ringing"); });
    s.on("accepted", () => { note("accepted"); show("In call", `With ${who}`, "inuse"); });
    s.on("confirmed", () => { note("confirmed"); show("In call", `With ${who}`, "inuse"); setInCall(true); });
    s.on("hold", ({ originator }) => { note("hold", { originator }); if (originator === "local") show("On hold", `${who} is on hold`, "ringing"); });
    s.on("unhold", ({ originator }) => { note("unhold", { originator }); show("In call", `With ${who}`, "inuse"); });
    s.on("newDTMF", ({ originator, dtmf }) => {
      note("dtmf", { originator, tone: dtmf.tone });
      if (originator === "remote") $("bp-dtmf").textContent = `Received ${dtmf.tone}`;
    });
    const finish = (what) => ({ originator, cause }) => {
      note(what, { originator, cause });
      if (session === s) session = null;
      $("bp-incoming").hidden = true;
      setInCall(false);
      const text = what === "failed" && cause ? `Call failed: ${cause}.` : "Call ended.";
      show(ua && ua.isRegistered() ? "Ready" : "Offline", text, ua && ua.isRegistered() ? "idle" : "unavailable");
      audioOut.srcObject = null;
      analyser = null;
    };
    s.on("ended", finish("ended"));
    s.on("failed", finish("failed"));
  }

  function call(number) {
    const target = String(number || "").replace(/[\s\-().]/g, "");
    if (!ua || !ua.isRegistered()) return false;
    if (!/^\+?[0-9*#]{1,32}$/.test(target)) { show("Ready", "Enter a number to call.", "idle"); return false; }
    if (session) return false;
    resumeAudio();
    const realm = ua.configuration.uri.host;
    show("Calling", `Calling ${target}…`, "ringing");
    track(ua.call(`sip:${target}@${realm}`, {
      mediaConstraints: { audio: true, video: false }, pcConfig: ICE,
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    }));
    return true;
  }

  function answer() {
    if (!session || session.direction !== "incoming" || session.isEstablished()) return false;
    resumeAudio();
    $("bp-incoming").hidden = true;
    session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: ICE });
    return true;
  }

  function hangup() {
    if (!session) return false;
    session.terminate();
    return true;
  }

  function hold(on) {
    if (!session || !session.isEstablished()) return false;
    const wanted = on === undefined ? !held : !!on;
    if (wanted === held) return true;
    held = wanted;
    if (held) session.hold(); else session.unhold();
    $("bp-hold").textContent = held ? "Resume" : "Hold";
    $("bp-hold").setAttribute("aria-pressed", held ? "true" : "false");
    return true;
  }

  function dtmf(tone, transport) {
    if (!session || !session.isEstablished()) return false;
    // RFC 4733 in the media when the browser can, SIP INFO otherwise (or when asked).
    const senders = session.connection ? session.connection.getSenders() : [];
    const canRtp = senders.some((s) => s.dtmf && s.dtmf.canInsertDTMF);
    const transportType = transport || (canRtp ? "RFC2833" : "INFO");
    session.sendDTMF(tone, { transportType, duration: 160, interToneGap: 80 });
    $("bp-dtmf").textContent = `Sent ${tone}`;
    return true;
  }

  function incoming(s) {
    if (session) { s.terminate({ status_code: 486, reason_phrase: "Busy Here" }); return; }
    track(s);
    const who = peerOf(s);
    $("bp-caller").textContent = `from ${who}`;
    $("bp-incoming").hidden = false;
    if (callButton) callButton.hidden = true;
    show("Ringing", `Incoming call from ${who}`, "ringing");
    if ("Notification" in window && Notification.permission === "granted") {
      const n = new Notification("Incoming call", { body: `From ${who} — answer in the browser`, tag: "browser-phone" });
      n.onclick = () => { window.focus(); n.close(); };
      s.on("ended", () => n.close());
      s.on("failed", () => n.close());
      s.on("accepted", () => n.close());
    }
  }

  function start(credentials) {
    extension = credentials.extension;
    if (!credentials.media) {
      show("Unavailable", "This box cannot carry browser audio (WebRTC media is not installed).", "unavailable");
      return;
    }
    const socket = new TokenSocket(credentials, (fresh) => { if (ua) ua.set("password", fresh.token); });
    ua = new window.JsSIP.UA({
      sockets: [socket], uri: credentials.uri, authorization_user: credentials.extension,
      password: credentials.token, display_name: credentials.name || credentials.extension,
      register: true, register_expires: 300, session_timers: false, user_agent: "Appliance browser phone",
    });
    ua.on("connecting", () => show("Connecting", "Connecting to the box…", "unknown"));
    ua.on("disconnected", () => { if (callButton) callButton.hidden = true; show("Offline", "No connection to the box; retrying…", "unavailable"); });
    ua.on("registered", () => {
      note("registered");
      show("Ready", `Extension ${extension} in this browser`, "idle");
      if (callButton && !session) callButton.hidden = false;
    });
    ua.on("unregistered", () => { if (callButton) callButton.hidden = true; show("Offline", "Not registered.", "unavailable"); });
    ua.on("registrationFailed", ({ cause }) => show("Offline", `Registration failed: ${cause}.`, "unavailable"));
    ua.on("newRTCSession", ({ originator, session: s }) => { if (originator === "remote") incoming(s); });
    ua.start();
  }

  // -- page wiring ------------------------------------------------------------------------------------------
  if (callButton) callButton.addEventListener("click", () => call(numberInput ? numberInput.value : ""));
  $("bp-answer").addEventListener("click", answer);
  $("bp-reject").addEventListener("click", () => { if (session) session.terminate({ status_code: 603, reason_phrase: "Decline" }); });
  $("bp-hangup").addEventListener("click", hangup);
  $("bp-hold").addEventListener("click", () => hold());
  document.querySelectorAll(".keypad .key").forEach((key) => key.addEventListener("click", () => {
    if (session && session.isEstablished()) dtmf(key.dataset.key);
  }));
  document.addEventListener("click", () => { if (audioContext && audioContext.state === "suspended") audioContext.resume(); });
  window.addEventListener("beforeunload", () => { if (ua) ua.stop(); });

  window.browserPhone = {
    call, answer, hangup, hold, dtmf, heard, events,
    state: () => ({
      registered: !!ua && ua.isRegistered(), inCall: !!session && session.isEstablished(),
      incoming: !!session && session.direction === "incoming" && !session.isEstablished(), held,
      label: stateBadge.textContent,
    }),
  };

  if (!window.JsSIP) {
    show("Unavailable", "The browser phone's SIP library did not load (run make webassets on the box).", "unavailable");
    return;
  }
  show("Connecting", "Fetching your credentials…", "unknown");
  fetchCredentials().then(start).catch((error) => show("Offline", error.message, "unavailable"));
})();
