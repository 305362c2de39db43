// The demo page: streams the microphone or a file to /v2/listen on this server and shows what
// comes back (flux-protocol.md §5): the current turn, the finished turns, the confidence timeline.
//
// window.turnscribeDemo mirrors what the page shows as plain data, for tests and the console.

import { Framer, RealTimeFeeder, decodeFile, openMicrophone } from "./audio.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const OPEN = 1;
const LOG_LINES = 200;
const FILE_TAIL_S = 1.5;  // silence streamed after a file before closing, once no turn is open
const MAX_QUEUED = 125;   // frames kept while the socket opens (10 s); older ones are dropped

const timeline = new Timeline($("timeline"));

const demo = {
  state: "idle",        // idle | connecting | open | closing | closed | error
  requestId: null,
  subprotocol: null,    // what the server selected: "token" when a key was sent
  turnInfos: 0,
  events: [],           // every TurnInfo but Update: {event, turn_index, t, confidence, transcript, trigger}
  finishedTurns: [],    // {turn_index, transcript, start, end, trigger}
  messages: [],         // every message that is not a TurnInfo, as received
  errors: [],           // every error the page showed
  close: null,          // {code, reason}
  audioSeconds: 0,      // audio sent on the current stream
  timeline,
};
window.turnscribeDemo = demo;

let session = null;     // the one stream at a time: {ws, kind, opened, closing, source, queue, turnActive}

// ---------------------------------------------------------------------------------- controls

function thresholds() {
  const eager = $("eager-on").checked ? Number($("eager").value) : null;
  return { eot: Number($("eot").value), eager, timeoutMs: Number($("timeout").value) };
}

function keyterms() {
  return $("keyterms").value.split(",").map((s) => s.trim()).filter(Boolean);
}

function listenUrl() {
  const th = thresholds();
  const q = new URLSearchParams({
    model: $("model").value, encoding: "linear16", sample_rate: "16000",
    eot_threshold: String(th.eot), eot_timeout_ms: String(th.timeoutMs),
  });
  if (th.eager !== null) q.set("eager_eot_threshold", String(th.eager));
  for (const k of keyterms()) q.append("keyterm", k);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/v2/listen?${q}`;
}

function showValues() {
  $("eot-value").textContent = Number($("eot").value).toFixed(2);
  $("eager").disabled = !$("eager-on").checked;
  $("eager-value").textContent = $("eager-on").checked ? Number($("eager").value).toFixed(2) : "off";
}

// Configure takes effect at that point of the stream (§7.2); before a stream the controls only
// shape the next URL.
function configure(fields) {
  if (!session || !session.opened || session.closing || session.ws.readyState !== OPEN) {
    $("config").textContent = "Applies to the next stream.";
    return;
  }
  const msg = { type: "Configure", ...fields };
  session.ws.send(JSON.stringify(msg));
  log(`→ ${JSON.stringify(msg)}`);
}

function configureThresholds(extra = {}) {
  const th = thresholds();
  const fields = { eot_threshold: th.eot, eot_timeout_ms: th.timeoutMs, ...extra };
  if (th.eager !== null) fields.eager_eot_threshold = th.eager;
  configure({ thresholds: fields });
}

$("eot").addEventListener("input", showValues);
$("eager").addEventListener("input", showValues);
$("eot").addEventListener("change", () => {
  // the server refuses eager above eot (§2.2): move eager down with eot rather than be refused
  if (Number($("eager").value) > Number($("eot").value)) $("eager").value = $("eot").value;
  showValues();
  configureThresholds();
});
$("eager").addEventListener("change", () => {
  if (Number($("eager").value) > Number($("eot").value)) $("eot").value = $("eager").value;
  showValues();
  configureThresholds();
});
$("eager-on").addEventListener("change", () => {
  showValues();
  if ($("eager-on").checked) configureThresholds();
  else if (session && session.opened) {
    // a null eager_eot_threshold means "not supplied" (§7.2): Configure cannot switch eager mode off
    $("config").textContent = "Eager mode stays on for this stream; it is off from the next one.";
  }
});
$("timeout").addEventListener("change", () => {
  const ms = Number($("timeout").value);
  if (!Number.isInteger(ms) || ms < 500 || ms > 60000) {
    $("config").textContent = "eot_timeout_ms must be a whole number from 500 to 60000.";
    $("config").classList.add("bad");
    return;
  }
  $("config").classList.remove("bad");
  configureThresholds();
});
$("keyterms").addEventListener("change", () => configure({ keyterms: keyterms() }));

$("mic-start").addEventListener("click", () => start("mic"));
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  $("file").value = "";  // picking the same file again must fire another change
  if (file) start("file", file);
});
$("stop").addEventListener("click", () => stop());
$("force-end").addEventListener("click", () => {
  if (session && session.opened && session.ws.readyState === OPEN) {
    session.ws.send(JSON.stringify({ type: "ForceEndTurn" }));
    log('→ {"type":"ForceEndTurn"}');
  }
});
window.addEventListener("pagehide", () => session?.ws.close());
showValues();

// ---------------------------------------------------------------------------------- the stream

function setStatus(state, text) {
  demo.state = state;
  $("status").className = `status ${state}`;
  $("status").textContent = text || state;
  const busy = session !== null;
  $("mic-start").disabled = busy;
  $("file").disabled = busy;
  $("stop").disabled = !busy || (session && session.closing);
  $("force-end").disabled = !(busy && session.opened && !session.closing);
}

function resetView() {
  Object.assign(demo, { requestId: null, subprotocol: null, turnInfos: 0, events: [], finishedTurns: [],
                        messages: [], errors: [], close: null, audioSeconds: 0 });
  timeline.reset();
  $("turns").replaceChildren();
  $("log").replaceChildren();
  $("config").textContent = "";
  renderCurrent(null);
}

async function start(kind, file) {
  if (session) return;
  resetView();
  const s = { kind, ws: null, opened: false, closing: false, source: null, queue: [], turnActive: false };
  session = s;
  setStatus("connecting", kind === "mic" ? "asking for the microphone…" : `decoding ${file.name}…`);
  const send = (buf) => {
    demo.audioSeconds += buf.byteLength / 2 / 16000;
    if (s.ws && s.ws.readyState === OPEN) s.ws.send(buf);
    else if (!s.opened) {  // captured while the socket opens: sent once it is open
      s.queue.push(buf);
      if (s.queue.length > MAX_QUEUED) s.queue.shift();
    }
  };
  try {
    if (kind === "mic") {
      const framer = new Framer(send);
      s.source = await openMicrophone((samples) => framer.push(samples));
      $("source").textContent = `${s.source.label} at ${s.source.rate} Hz, resampled to 16 kHz`;
    } else {
      const samples = await decodeFile(file);
      s.source = new RealTimeFeeder(samples, (buf) => {
        send(buf);
        afterFileFrame(s);
      }, () => log(`file ${file.name} sent; silence follows until the turn ends`));
      $("source").textContent = `${file.name}: ${(samples.length / 16000).toFixed(1)} s, streamed at real time`;
    }
  } catch (e) {
    session = null;
    fail(kind === "mic" ? `microphone: ${e.message}` : `could not decode ${file.name}: ${e.message}`);
    return;
  }
  if (session !== s || s.closing) {  // stopped while the microphone was being opened
    stopSource(s);
    return;
  }
  connect(s);
}

// a file session ends by itself: once the file is out and no turn is open (or the timeout has
// had its chance), CloseStream flushes the rest
function afterFileFrame(s) {
  if (s.closing || !s.source) return;
  const silence = s.source.silenceSeconds;
  if (silence === 0) return;
  // with no turn ended yet, give the server's StartOfTurn (which trails the audio) longer to arrive
  const settled = !s.turnActive && silence >= (demo.finishedTurns.length ? FILE_TAIL_S : 2 * FILE_TAIL_S);
  if (settled || silence >= thresholds().timeoutMs / 1000 + 2) stop();
}

function connect(s) {
  const url = listenUrl();
  const key = $("api-key").value.trim();
  try {
    // browsers cannot set Authorization on a WebSocket: the key rides in the subprotocol list (§3)
    s.ws = key ? new WebSocket(url, ["token", key]) : new WebSocket(url);
  } catch (e) {
    s.source?.stop();
    session = null;
    fail(`cannot open the WebSocket: ${e.message}${key ? " (is the API key plain ASCII without spaces?)" : ""}`);
    return;
  }
  const th = thresholds();
  timeline.setThresholds(0, th.eot, th.eager);
  setStatus("connecting", "connecting…");
  s.ws.binaryType = "arraybuffer";
  s.ws.onopen = () => {
    s.opened = true;
    demo.subprotocol = s.ws.protocol || null;
    for (const buf of s.queue) s.ws.send(buf);
    s.queue = [];
    if (s.kind === "file" && s.source) s.source.start();
    setStatus("open", "streaming");
  };
  s.ws.onmessage = (e) => {
    if (typeof e.data !== "string") return;  // the server sends text frames only (§1)
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      log(`unparsable message: ${e.data.slice(0, 200)}`, "bad");
      return;
    }
    handle(s, msg);
  };
  s.ws.onclose = (e) => closed(s, e, url, key);
}

function stop() {
  const s = session;
  if (!s || s.closing) return;
  s.closing = true;
  stopSource(s);
  if (s.ws && s.ws.readyState === OPEN) {
    s.ws.send(JSON.stringify({ type: "CloseStream" }));  // the server flushes, then closes (§7.4)
    log('→ {"type":"CloseStream"}');
    setStatus("closing", "flushing…");
    setTimeout(() => { if (s.ws.readyState !== 3) s.ws.close(); }, 15000);
  } else if (s.ws) {
    s.ws.close();
  } else {
    session = null;
    setStatus("idle");
  }
}

function stopSource(s) {
  const source = s.source;
  s.source = null;
  source?.stop();
}

async function closed(s, e, url, key) {
  stopSource(s);
  demo.close = { code: e.code, reason: e.reason };
  if (session === s) session = null;
  if (s.closing && (!s.opened || e.code === 1000 || e.code === 1005)) {
    setStatus("closed", s.opened ? `closed (${e.code})` : "stopped");
  } else if (!s.opened) {
    // a refused handshake reaches a browser as a bare 1006: ask the same URL over plain HTTP,
    // where the server's refusal (§4.2) can be read
    fail(`connection refused: ${await diagnose(url, key)}`);
  } else {
    fail(`stream closed: ${e.code}${e.reason ? ` ${e.reason}` : ""}`);
  }
}

async function diagnose(url, key) {
  try {
    const r = await fetch(url.replace(/^ws/, "http"), {
      cache: "no-store", headers: key ? { Authorization: `Token ${key}` } : {},
    });
    if (r.status === 426) {
      // the same request passed every check but the browser's Origin, which fetch cannot repeat
      return `the server refused the WebSocket only: is ${location.origin} missing from its ` +
             "--allowed-origin list, or is a proxy not passing WebSocket upgrades?";
    }
    const body = await r.json().catch(() => null);
    return `HTTP ${r.status}: ${body?.err_msg || r.statusText}`;
  } catch (err) {
    return `the server cannot be reached (${err.message})`;
  }
}

function fail(text) {
  demo.errors.push(text);
  log(text, "bad");
  setStatus("error", text);
}

// ---------------------------------------------------------------------------------- messages

function handle(s, msg) {
  if (msg.type !== "TurnInfo") demo.messages.push(msg);
  switch (msg.type) {
    case "Connected":
      demo.requestId = msg.request_id;
      log(`Connected ${msg.request_id}${demo.subprotocol ? ` (subprotocol ${demo.subprotocol})` : ""}`);
      break;
    case "TurnInfo":
      turnInfo(s, msg);
      break;
    case "ConfigureSuccess": {
      const th = msg.thresholds || {};
      timeline.setThresholds(timeline.latest, th.eot_threshold, th.eager_eot_threshold ?? null);
      $("config").classList.remove("bad");
      $("config").textContent = `In force: eot ${th.eot_threshold} · eager ${th.eager_eot_threshold ?? "off"} · ` +
        `timeout ${th.eot_timeout_ms} ms · keyterms ${(msg.keyterms || []).join(", ") || "none"}`;
      log(`ConfigureSuccess ${JSON.stringify({ thresholds: th, keyterms: msg.keyterms })}`);
      break;
    }
    case "ConfigureFailure":
      $("config").classList.add("bad");
      $("config").textContent = `Refused: ${msg.description || msg.code}`;
      log(`ConfigureFailure ${msg.code}: ${msg.description}`, "bad");
      break;
    case "Warning":
      log(`Warning ${msg.code}: ${msg.description}`, "warn");
      break;
    case "Error":  // fatal: the server closes next (§5.6)
      demo.errors.push(`${msg.code}: ${msg.description}`);
      log(`Error ${msg.code}: ${msg.description}`, "bad");
      break;
    default:
      log(`${msg.type} ${JSON.stringify(msg).slice(0, 200)}`);
  }
}

function turnInfo(s, msg) {
  demo.turnInfos++;
  const t = msg.audio_window_end;
  timeline.addPoint(t, msg.end_of_turn_confidence);
  if (msg.words && msg.words.length) timeline.setWords(msg.turn_index, msg.words);
  if (msg.event !== "Update") {
    demo.events.push({ event: msg.event, turn_index: msg.turn_index, t, confidence: msg.end_of_turn_confidence,
                       transcript: msg.transcript, trigger: msg.trigger ?? null });
    timeline.addMarker(t, msg.event);
    log(`${msg.event} turn ${msg.turn_index} at ${t.toFixed(2)} s, confidence ` +
        `${msg.end_of_turn_confidence.toFixed(2)}${msg.trigger ? ` (${msg.trigger})` : ""}`);
  }
  if (msg.event === "StartOfTurn") s.turnActive = true;
  if (msg.event === "EndOfTurn") {
    s.turnActive = false;
    const turn = { turn_index: msg.turn_index, transcript: msg.transcript, start: msg.audio_window_start,
                   end: t, trigger: msg.trigger ?? null };
    demo.finishedTurns.push(turn);
    addFinishedTurn(turn);
    renderCurrent(null, msg);
  } else {
    renderCurrent(msg);
  }
}

function renderCurrent(msg, ended = null) {
  const el = $("current");
  const meta = $("turn-meta");
  meta.replaceChildren();
  if (msg && msg.transcript) {
    el.textContent = msg.transcript;
    el.classList.remove("empty");
    const badge = document.createElement("span");
    badge.className = `badge ${msg.event}`;
    badge.textContent = msg.event;
    meta.append(`turn ${msg.turn_index} `, badge, ` confidence ${msg.end_of_turn_confidence.toFixed(2)}`);
  } else {
    el.classList.add("empty");
    el.textContent = session || ended ? "Listening…" : "Start the microphone or pick a file.";
    if (msg) meta.append(`turn ${msg.turn_index} · confidence ${msg.end_of_turn_confidence.toFixed(2)}`);
  }
}

function addFinishedTurn(turn) {
  const li = document.createElement("li");
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = `turn ${turn.turn_index} · ${turn.start.toFixed(2)}–${turn.end.toFixed(2)} s · ` +
                     `ended by ${turn.trigger || "?"}`;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = turn.transcript || "(no words)";
  li.append(when, text);
  $("turns").append(li);
}

function log(text, cls = "") {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  const list = $("log");
  list.append(li);
  while (list.childElementCount > LOG_LINES) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

