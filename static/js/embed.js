// The embed page (`/embed?...`): a saved run or a lesson's steps, played inside an iframe on a
// course page or a slide. It opens a session of its own (nothing it does reaches any other
// session) and offers only the player: play/pause, step, scrub, speed; the cluster is drawn by
// the lab's own view module. Parameters (docs/protocol.md):
//   trace=<share-link trace>  from=<ms>  to=<ms>  speed=<0.001..1>  autoplay=1  logs=1
//   lesson=<id>  step=<first step, from 0>  last=<last step>  text=0 (hide the step's text)

import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";
import { SimClock } from "./clock.js";
import { byId, el, text } from "./dom.js";
import { ms, speed as speedLabel } from "./format.js";
import { decodeTrace } from "./share.js";
import { Store } from "./store.js";
import * as cluster from "./views/cluster.js";
import * as logs from "./views/logs.js";

const ACK_TIMEOUT_MS = 65000;
const SPEEDS = [0.01, 0.02, 0.05, 0.1, 0.25, 1];

const params = new URLSearchParams(location.search);
const number = (name, fallback) => {
  const v = Number(params.get(name));
  return params.has(name) && Number.isFinite(v) ? v : fallback;
};
const opts = {
  trace: params.get("trace") || "",
  lesson: params.get("lesson") || "",
  step: Math.max(0, Math.floor(number("step", 0))),
  last: params.has("last") ? Math.max(0, Math.floor(number("last", 0))) : null,
  from: Math.max(0, number("from", 0)),
  to: params.has("to") ? Math.max(0, number("to", 0)) : null,
  speed: Math.min(1, Math.max(0.001, number("speed", 0.05))),
  autoplay: params.get("autoplay") === "1",
  logs: params.get("logs") === "1",
  text: params.get("text") !== "0",
};

const store = new Store();
const clock = new SimClock();
const root = byId("cluster");
const status = byId("embed-status");
const playBtn = byId("embed-play");
const scrub = byId("embed-scrub");
let dirty = true;
let ready = false;
let scrubbing = false;
let lesson = null; // the lesson state while a lesson range plays
let started = false; // the first frame came: load what the link asks for

function setStatus(message, kind = "info") {
  text(status, message);
  status.dataset.state = kind;
}

// ------------------------------------------------------------------ socket

let token = "";
const socket = io({ auth: (cb) => cb({ session: token }), transports: ["websocket", "polling"] });

function emit(event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err) resolve({ ok: false, error: "the server did not answer in time" });
      else resolve(ack && typeof ack === "object" ? ack : { ok: false, error: "no answer" });
    });
  });
}

async function call(event, payload) {
  const ack = await emit(event, payload);
  if (!ack.ok) setStatus(String(ack.error || "the server refused"), "error");
  return ack;
}

const player = (action, extra = {}) => call("player", { action, ...extra });

socket.on("hello", (hello) => {
  // Keep the session across a dropped connection (in memory only: two embeds on one page
  // must never share a session).
  if (hello && typeof hello.session === "string") token = hello.session;
});
socket.on("connect_error", (err) => setStatus(err?.data?.error || "cannot reach the server", "error"));
socket.on("disconnect", (reason) => {
  if (reason === "io server disconnect") setStatus("session ended: reload to play again", "error");
});
socket.on("frame", (frame) => {
  const ok = store.applyFrame(frame);
  if (store.snapshot === frame) clock.onFrame(frame.time, frame.player);
  if (!ok) emit("resync", {});
  if (!started) {
    started = true;
    load();
  }
  stopAtEnd();
});
socket.on("lesson", (data) => {
  const state = data?.state;
  if (state?.started) lesson = state;
  dirty = true;
});

// -------------------------------------------------------------- loading

async function load() {
  if (opts.trace) {
    let trace;
    try {
      trace = await decodeTrace(opts.trace);
    } catch {
      setStatus("this embed link is damaged: it does not hold a trace", "error");
      return;
    }
    const ack = await call("trace_import", { trace });
    if (!ack.ok) return;
  } else if (opts.lesson) {
    const ack = await call("lesson_start", { id: opts.lesson, step: opts.step });
    if (!ack.ok) return;
    if (ack.state?.started) lesson = ack.state;
  }
  await player("speed", { speed: opts.speed });
  if (opts.from > 0 || opts.trace) await player("seek", { time: opts.from });
  ready = true;
  root.closest(".embed").dataset.ready = "true";
  setStatus(opts.lesson ? "" : "ready", "ok");
  if (opts.autoplay) togglePlay();
  dirty = true;
}

function end() {
  const horizon = store.snapshot?.player?.horizon ?? 0;
  if (opts.to !== null) return opts.to;
  return opts.trace ? horizon : Infinity;
}

function stopAtEnd() {
  const snap = store.snapshot;
  if (!ready || !snap?.player?.playing) return;
  if (snap.time >= end()) player("pause");
}

// ----------------------------------------------------------------- controls

async function togglePlay() {
  const snap = store.snapshot;
  if (!ready || !snap) return;
  if (snap.player?.playing) return player("pause");
  if (snap.time >= end() - 0.5) await player("seek", { time: opts.from });
  return player("play");
}

playBtn.addEventListener("click", () => togglePlay());
byId("embed-step").addEventListener("click", () => ready && player("step"));
scrub.addEventListener("pointerdown", () => { scrubbing = true; });
scrub.addEventListener("input", () => {
  scrubbing = true;
  text(byId("embed-time"), ms(Number(scrub.value)));
});
scrub.addEventListener("change", async () => {
  if (ready) await player("seek", { time: Number(scrub.value) });
  scrubbing = false;
  dirty = true; // the frame of the seek came while the bar was held: show it now
});

const speedBox = byId("embed-speed");
for (const s of SPEEDS) speedBox.append(el("option", { value: String(s), text: speedLabel(s) }));
if (!SPEEDS.includes(opts.speed)) speedBox.append(el("option", { value: String(opts.speed), text: speedLabel(opts.speed) }));
speedBox.value = String(opts.speed);
speedBox.addEventListener("change", () => ready && player("speed", { speed: Number(speedBox.value) }));

const lessonBar = byId("embed-lesson");
const textBox = byId("embed-text");
const textToggle = byId("embed-text-toggle");
let shownHtml = null; // the step text last put in textBox
let showText = opts.text;
if (opts.lesson) {
  lessonBar.hidden = false;
  byId("embed-back").addEventListener("click", () => goStep(-1));
  byId("embed-next").addEventListener("click", () => goStep(1));
  textToggle.addEventListener("click", () => {
    showText = !showText;
    dirty = true;
  });
}

/** The step's text (server-rendered, sanitised markdown), beside the cluster unless hidden. */
function renderText(step) {
  textToggle.setAttribute("aria-pressed", showText ? "true" : "false");
  textBox.hidden = !showText || !step;
  document.body.classList.toggle("with-text", !textBox.hidden);
  if (!step || step.html === shownHtml) return;
  shownHtml = step.html;
  const t = document.createElement("template");
  t.innerHTML = typeof step.html === "string" ? step.html : "";
  textBox.replaceChildren(t.content);
  textBox.scrollTop = 0;
}

async function goStep(delta) {
  if (!lesson?.step) return;
  const target = lesson.step.index + delta;
  const last = opts.last ?? lesson.lesson.steps - 1;
  if (target < opts.step || target > last) return;
  await call("lesson_goto", { step: target });
}

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  if (e.key === " " || e.key === "k") {
    e.preventDefault();
    togglePlay();
  } else if (e.key === "." || e.key === "ArrowRight") {
    e.preventDefault();
    if (ready) player("step");
  }
});

// ------------------------------------------------------------------ views

const ctx = {
  select: () => {},
  isSelected: () => false,
  selectedMessage: () => null,
  scale: () => (window.innerHeight >= 700 ? 1.25 : 1),
  openNodeMenu: () => {},
  openLinkMenu: () => {},
  openMessageMenu: () => {},
  closePopover: () => {},
  movePartition: () => {},
};
cluster.mount(root, ctx);
cluster.legend(byId("legend"));
const logsRoot = byId("logs");
if (opts.logs) {
  logsRoot.hidden = false;
  document.body.classList.add("with-logs");
  logs.mount(logsRoot, { select: () => {}, isSelected: () => false, scale: ctx.scale, selection: () => null });
}

function renderBar(snap) {
  const playing = Boolean(snap.player?.playing);
  text(playBtn, playing ? "❚❚ Pause" : "▶ Play");
  playBtn.dataset.playing = playing ? "true" : "false";
  playBtn.setAttribute("aria-pressed", playing ? "true" : "false");
  const hi = Math.max(Number.isFinite(end()) ? end() : snap.player?.horizon ?? snap.time, snap.time, opts.from + 1);
  scrub.min = String(opts.from);
  scrub.max = String(Math.round(hi));
  if (!scrubbing) {
    scrub.value = String(Math.round(snap.time));
    const t = byId("embed-time");
    text(t, ms(snap.time));
    t.dataset.time = String(snap.time);
  }
  const leader = snap.leader ?? "none";
  const term = Math.max(0, ...snap.nodes.map((n) => n.term || 0));
  text(byId("embed-facts"), `leader ${leader} · term ${term}`);
  if (lesson?.step) {
    const last = opts.last ?? lesson.lesson.steps - 1;
    text(byId("embed-step-title"), `Step ${lesson.step.index + 1}: ${lesson.step.title}`);
    byId("embed-back").disabled = lesson.step.index <= opts.step;
    byId("embed-next").disabled = lesson.step.index >= last;
  }
  if (opts.lesson) renderText(lesson?.step);
}

store.subscribe(() => { dirty = true; });

function loop(now) {
  const snap = store.snapshot;
  if (dirty && snap) {
    dirty = false;
    cluster.render(root, snap);
    if (opts.logs) logs.render(logsRoot, snap);
    renderBar(snap);
  }
  cluster.animate(root, now, clock.tick(now));
  requestAnimationFrame(loop);
}
requestAnimationFrame(loop);

// For tests: read-only access to the state.
window.raftvizEmbed = { store, opts };
