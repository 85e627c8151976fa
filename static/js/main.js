// The live lab page: wires the connection, the store and the views, and runs the draw loop.
//
// Frames from the server go into the store; a requestAnimationFrame loop re-renders views
// when a new frame arrived and animates the canvas every display frame in between.

import { SimClock } from "./clock.js";
import { api, connect, joinCode, reconnect } from "./connection.js";
import { attr, byId, el, text } from "./dom.js";
import { Exporter } from "./export.js";
import { byNodeId, ms } from "./format.js";
import { Menus } from "./menus.js";
import { Share } from "./share.js";
import { Store } from "./store.js";
import { toast } from "./toast.js";
import * as changes from "./views/changes.js";
import { Announcer } from "./views/announcer.js";
import * as cluster from "./views/cluster.js";
import * as classroom from "./views/classroom.js";
import * as controls from "./views/controls.js";
import * as data from "./views/data.js";
import * as inspector from "./views/inspector.js";
import * as lesson from "./views/lesson.js";
import * as logs from "./views/logs.js";
import * as metrics from "./views/metrics.js";
import * as membership from "./views/membership.js";
import * as narration from "./views/narration.js";
import * as ophistory from "./views/ophistory.js";
import * as paxos from "./views/paxos.js";
import * as safety from "./views/safety.js";
import * as scripting from "./views/scripting.js";
import * as spacetime from "./views/spacetime.js";
import * as timeline from "./views/timeline.js";

const PROJECTOR_KEY = "raftviz.projector";

function readDefaults() {
  try {
    return JSON.parse(byId("raftviz-defaults")?.textContent || "{}") || {};
  } catch {
    return {};
  }
}

const store = new Store();
const clock = new SimClock();
const defaults = readDefaults();
let dirty = false;
let projector = false;
let urlApplied = false;
let resyncing = false;
let stoppedShown = null; // player.stopped already shown (a work guard paused playback)

// ------------------------------------------------------------------- actions

async function command(cmd, opts) {
  return api.command(cmd, opts);
}

async function player(action, extra = {}) {
  return api.player(action, extra);
}

function seek(time) {
  return player("seek", { time: Math.max(0, Number(time) || 0) });
}

function togglePlay() {
  return player(store.snapshot?.player?.playing ? "pause" : "play");
}

function select(type, id) {
  store.select(type && id != null ? { type, id } : null);
  if (type) showTab("inspect");
}

function isSelected(type, id) {
  return store.selected?.type === type && store.selected.id === id;
}

function selectedNode() {
  return store.selected?.type === "node" ? store.node(store.selected.id) : null;
}

function reset(size, seed) {
  const snap = store.snapshot;
  const config = { size, seed };
  // Keep the protocol and its settings; a Paxos cluster's settings travel under "paxos".
  if (snap?.protocol && snap.protocol !== "raft") {
    config.protocol = snap.protocol;
    if (snap.settings) config.paxos = { ...snap.settings };
  } else if (snap?.settings) config.settings = { ...snap.settings };
  if (snap?.network?.defaults) config.network = { ...snap.network.defaults };
  store.select(null);
  return api.reset(config);
}

function presetIsolate() {
  const snap = store.snapshot;
  if (!snap?.leader) {
    toast("There is no leader to isolate right now");
    return;
  }
  const others = snap.nodes.map((n) => n.id).filter((id) => id !== snap.leader);
  command({ type: "partition", groups: [[snap.leader], others] });
}

function presetSplit() {
  const snap = store.snapshot;
  if (!snap || snap.nodes.length < 2) {
    toast("A split needs at least two servers");
    return;
  }
  command({ type: "partition", groups: controls.splitGroups(snap.nodes.map((n) => n.id), snap.leader) });
}

/** A node was dropped on a side of the canvas: move it there and send the new partition. */
function movePartition(id, zone) {
  const cols = cluster.columns(clusterSvg).map((c) => ({ ids: c.ids.filter((x) => x !== id), free: c.free }));
  if (zone.isNew) cols.push({ ids: [id], free: false });
  else if (zone.index >= 0 && cols[zone.index]) {
    const before = cluster.columns(clusterSvg)[zone.index];
    if (before.ids.includes(id)) return; // dropped where it already was
    cols[zone.index].ids.push(id);
  }
  const groups = cols.filter((c) => !c.free && c.ids.length).map((c) => c.ids.sort(byNodeId));
  const free = cols.filter((c) => c.free).flatMap((c) => c.ids);
  // Servers in no group reach every side, so one group beside them would split nothing.
  if (groups.length === 1 && free.length) groups.push(free.sort(byNodeId));
  const cuts = store.snapshot?.network?.cut || [];
  if (groups.length <= 1) {
    command(cuts.length ? { type: "partition", groups: [] } : { type: "heal" });
  } else {
    command({ type: "partition", groups });
  }
}

function nodeAction(kind) {
  const n = selectedNode();
  if (!n) {
    toast("Select a server first (click it, or press 1…9)", "info");
    return;
  }
  if (kind === "crash") command({ type: n.state === "crashed" ? "restart" : "crash", node: n.id });
  else if (kind === "pause") {
    if (n.state === "crashed") toast(`${n.id} is crashed; restart it first (c)`, "info");
    else command({ type: n.state === "paused" ? "resume" : "pause", node: n.id });
  } else if (kind === "timeout") command({ type: "timeout", node: n.id });
  else if (kind === "write") menus.openNode(n.id, "write");
  else if (kind === "read") menus.openNode(n.id, "read");
}

// --------------------------------------------------------------------- views

const clusterSvg = byId("cluster");
const scale = () => (projector ? 1.3 : 1);

const menus = new Menus({
  store,
  command,
  anchorOf: (id) => cluster.nodePoint(clusterSvg, id),
  sides: () => cluster.columns(clusterSvg),
  moveToSide: (id, zone) => movePartition(id, zone),
});

cluster.mount(clusterSvg, {
  select,
  isSelected,
  selectedMessage: () => (store.selected?.type === "message" ? store.selected.id : null),
  scale,
  openNodeMenu: (id) => menus.openNode(id),
  openLinkMenu: (a, b, at) => menus.openLink(a, b, at),
  openMessageMenu: (id, at) => menus.openMessage(id, at),
  closePopover: () => menus.close(),
  movePartition,
});
cluster.legend(byId("legend"));
paxos.mount({
  snapshot: () => store.snapshot,
  reset: (config) => {
    store.select(null);
    return api.reset(config);
  },
  legend: (box, on) => cluster.legend(box, on),
});
{
  // Paxos has no ReadIndex or lease reads: the server menu disables them while it runs.
  const openNode = menus.openNode.bind(menus);
  menus.openNode = (id, focus) => {
    openNode(id, focus);
    paxos.adaptMenu(byId("popover"), store.snapshot);
  };
}

const logsRoot = byId("logs");
logs.mount(logsRoot, { select, isSelected, scale, selection: () => store.selected });

const panes = {
  inspect: byId("pane-inspect"),
  safety: byId("pane-safety"),
  metrics: byId("pane-metrics"),
  state: byId("pane-state"),
};
inspector.mount(panes.inspect, {
  selection: () => store.selected,
  nodeActions: (id) => [
    ...menus.nodeButtons(id),
    el("button", { type: "button", "data-testid": "action-write", title: "w", text: "Write…", onclick: () => menus.openNode(id, "write") }),
    el("button", { type: "button", "data-testid": "action-read", title: "r", text: "Read…", onclick: () => menus.openNode(id, "read") }),
  ],
  messageActions: (id) => [
    el("button", { type: "button", class: "btn-primary", "data-testid": "insp-deliver", text: "Deliver now", onclick: () => command({ type: "deliver", id }) }),
    el("button", { type: "button", class: "btn-danger", "data-testid": "insp-drop", text: "Drop", onclick: () => command({ type: "drop", id }) }),
  ],
});
safety.mount(panes.safety, { seek });
metrics.mount(panes.metrics, { samples: () => store.samples });
data.mount(panes.state);
const narrationRoot = byId("narration");
const keyOnly = byId("narr-key");
narration.mount(narrationRoot, { seek, keyOnly: () => keyOnly.checked });
keyOnly.addEventListener("change", () => { dirty = true; });
const announcer = new Announcer(byId("announcer"), byId("announce-level"));
const tl = timeline.mount({ player, togglePlay, seek });
controls.mount({
  command, reset, presetIsolate, presetSplit, select, isSelected,
  schema: () => (store.snapshot?.protocol === "paxos" ? store.hello?.paxos_settings_schema : store.hello?.settings_schema),
});
scripting.mount({ store, command });
const share = new Share({ api, store });

// The centre shows the cluster, the space-time diagram or the operation history.
const centreViews = { cluster: byId("cluster-wrap"), spacetime: byId("spacetime"), ophistory: byId("ophistory") };
const recordApi = (event, payload) => api.record(event, payload);
spacetime.mount(centreViews.spacetime, { api: recordApi, seek, select });
ophistory.mount(centreViews.ophistory, { api: recordApi, seek });
let centreView = "cluster";
function showView(name) {
  centreView = name;
  for (const [key, pane] of Object.entries(centreViews)) {
    pane.hidden = key !== name;
    attr(byId(`view-${key}`), "aria-selected", key === name ? "true" : "false");
  }
  spacetime.show(name === "spacetime");
  ophistory.show(name === "ophistory");
  if (name === "cluster") requestAnimationFrame(() => cluster.relayout(clusterSvg));
  dirty = true;
}
for (const name of Object.keys(centreViews)) byId(`view-${name}`).addEventListener("click", () => showView(name));

let activeTab = "inspect";
function showTab(name) {
  if (!panes[name]) return;
  activeTab = name;
  for (const [key, pane] of Object.entries(panes)) {
    pane.hidden = key !== name;
    attr(byId(`tab-${key}`), "aria-selected", key === name ? "true" : "false");
  }
  dirty = true;
}
for (const name of Object.keys(panes)) byId(`tab-${name}`).addEventListener("click", () => showTab(name));
byId("safety-chip").addEventListener("click", () => showTab("safety"));

function renderStatus(snap) {
  const t = byId("stat-time");
  text(t, ms(snap.time));
  attr(t, "data-time", snap.time);
  const maxTerm = Math.max(0, ...snap.nodes.map((n) => n.term || 0));
  text(byId("stat-term"), maxTerm);
  const leader = byId("stat-leader");
  text(leader, snap.leader ?? "none");
  leader.classList.toggle("none", !snap.leader);
  // A deposed leader that has not noticed yet (cut off, or paused) is worth pointing out.
  const stale = snap.nodes.filter((n) => n.role === "leader" && n.id !== snap.leader && n.state !== "crashed");
  const also = stale.map((n) => `${n.id} (term ${n.term})`).join(", ");
  text(byId("stat-stale"), stale.length ? `also acting as leader: ${also}` : "");
}

function timed(name, fn) {
  const t = performance.now();
  fn();
  perf.views[name] = (perf.views[name] || 0) + performance.now() - t;
}

function renderStartHint(snap) {
  byId("start-hint").hidden = !(snap.time === 0 && !snap.player?.playing);
}
byId("btn-start").addEventListener("click", () => player("play"));
byId("btn-add-server").addEventListener("click", () => command({ type: "add_server" }));

function renderAll() {
  const snap = store.snapshot;
  if (!snap) return;
  timed("status", () => {
    renderStatus(snap);
    renderStartHint(snap);
  });
  if (centreView === "cluster") timed("cluster", () => cluster.render(clusterSvg, snap));
  timed("spacetime", () => spacetime.render(snap));
  timed("ophistory", () => ophistory.render(snap));
  timed("membership", () => membership.renderBanner(byId("config-banner"), snap));
  timed("logs", () => logs.render(logsRoot, snap));
  timed("timeline", () => timeline.render(null, snap));
  timed("controls", () => controls.render(null, snap));
  timed("scripting", () => scripting.render(null, snap));
  timed("paxos", () => paxos.render(null, snap));
  timed("safety", () => safety.render(panes.safety, snap));
  timed("narration", () => narration.render(narrationRoot, snap));
  announcer.onFrame(snap);
  if (activeTab === "inspect") timed("inspector", () => inspector.render(panes.inspect, snap));
  if (activeTab === "metrics") timed("metrics", () => metrics.render(panes.metrics, snap));
  if (activeTab === "state") timed("data", () => data.render(panes.state, snap));
  timed("changes", () => changes.render(snap, byId("cluster-wrap")));
  if (menus.kind === "node" && !store.node(menus.target)) menus.close();
}

// Time spent in our own code per display frame (read by bench/bench_render.py).
const perf = { renders: 0, renderMs: 0, animates: 0, animateMs: 0, views: {} };

function loop(now) {
  const t0 = performance.now();
  if (dirty) {
    dirty = false;
    renderAll();
    perf.renders += 1;
  }
  const t1 = performance.now();
  perf.renderMs += t1 - t0;
  const display = clock.tick(now);
  if (centreView === "cluster") cluster.animate(clusterSvg, now, display);
  spacetime.animate(now);
  perf.animates += 1;
  perf.animateMs += performance.now() - t1;
  requestAnimationFrame(loop);
}

store.subscribe(() => { dirty = true; });

// ---------------------------------------------------------------- connection

function setStatus(message, kind) {
  const conn = byId("conn");
  text(conn, message);
  attr(conn, "class", `conn conn-${kind}`);
  attr(conn, "data-state", kind);
}

byId("btn-reconnect").addEventListener("click", () => {
  byId("expired").hidden = true;
  setStatus("connecting…", "wait");
  reconnect();
});

const socket = connect({
  status: (message, kind) => {
    if (kind === "ok") byId("expired").hidden = true;
    setStatus(message, kind);
  },
  expired: () => {
    setStatus("session ended", "bad");
    byId("expired").hidden = false;
    clock.playing = false;
  },
  error: (message) => toast(message),
  hello: (hello) => {
    store.hello = hello;
    dirty = true;
  },
  frame: (frame) => {
    const ok = store.applyFrame(frame);
    if (store.snapshot === frame) clock.onFrame(frame.time, frame.player);
    const stopped = frame.player?.stopped ?? null;
    if (stopped && stopped !== stoppedShown) toast(stopped);
    stoppedShown = stopped;
    if (!ok && !resyncing) {
      resyncing = true;
      api.resync().finally(() => { resyncing = false; });
    }
    if (!urlApplied && store.snapshot) {
      urlApplied = true;
      share.applyUrl();
    }
    lesson.onFrame(store.snapshot);
  },
});
lesson.mount({ socket, time: () => store.snapshot?.time ?? null, seek });
new Exporter({ api, socket, store });
classroom.mount({ socket, joining: Boolean(joinCode()) });

// ------------------------------------------------------------------ keyboard

/** Keys typed into a text field are text, not shortcuts (sliders and checkboxes are not text). */
function typing(e) {
  const t = e.target;
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT") return true;
  return t.tagName === "INPUT" && !["range", "checkbox", "radio", "button", "submit", "file"].includes(t.type);
}

/** Space and arrows keep their own meaning on buttons, checkboxes and sliders. */
function nativeKey(e) {
  const t = e.target;
  if (e.key === " ") return t instanceof HTMLButtonElement || t instanceof HTMLInputElement || t.tagName === "SUMMARY";
  if (e.key.startsWith("Arrow")) return t instanceof HTMLInputElement;
  return false;
}

function setHelp(open) {
  byId("help").hidden = !open;
  if (open) byId("help-close").focus();
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    menus.close();
    setHelp(false);
    if (store.selected?.type === "message") select(null);
    return;
  }
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (!byId("help").hidden && e.key !== "?") return;
  const key = e.key;
  if (nativeKey(e)) return;
  let handled = true;
  if (key === " " || key === "k") togglePlay();
  else if (key === "." || key === "ArrowRight") player("step");
  else if (key === ",") player("advance", { ms: 10 });
  else if (key === "[") tl.nudgeSpeed(0.5);
  else if (key === "]") tl.nudgeSpeed(2);
  else if (/^[1-9]$/.test(key)) {
    const id = store.nodeIds()[Number(key) - 1];
    if (id) {
      select("node", id);
      document.querySelector(`[data-testid="node-${id}"]`)?.focus({ preventScroll: true });
    }
  } else if (key === "c") nodeAction("crash");
  else if (key === "p") nodeAction("pause");
  else if (key === "t") nodeAction("timeout");
  else if (key === "w") nodeAction("write");
  else if (key === "r") nodeAction("read");
  else if (key === "m") command({ type: "manual", on: !store.snapshot?.network?.manual });
  else if (key === "h") command({ type: "heal" });
  else if (key === "?") setHelp(byId("help").hidden);
  else handled = false;
  if (handled) e.preventDefault();
});
byId("btn-help").addEventListener("click", () => setHelp(true));
byId("help-close").addEventListener("click", () => setHelp(false));
byId("help").addEventListener("click", (e) => {
  if (e.target === byId("help")) setHelp(false);
});

// ------------------------------------------------------------ projector, tab

function setProjector(on) {
  projector = on;
  document.body.classList.toggle("projector", on);
  attr(byId("btn-projector"), "aria-pressed", on ? "true" : "false");
  try {
    localStorage.setItem(PROJECTOR_KEY, on ? "1" : "0");
  } catch {
    /* storage off: the choice lasts this visit */
  }
  requestAnimationFrame(() => {
    cluster.relayout(clusterSvg);
    dirty = true;
  });
}
byId("btn-projector").addEventListener("click", () => setProjector(!projector));
try {
  if (localStorage.getItem(PROJECTOR_KEY) === "1") setProjector(true);
} catch {
  /* storage off: start in laptop mode */
}
const maxNodes = defaults.limits?.max_nodes;
if (Number.isInteger(maxNodes)) byId("cfg-size").max = String(maxNodes);

// A hidden tab keeps no one watching: pause the player; resuming is the user's choice.
document.addEventListener("visibilitychange", () => {
  if (document.hidden && store.snapshot?.player?.playing && !classroom.following()) {
    player("pause");
    toast("Paused because the tab was hidden. Press space to play.", "info", 6000);
  }
});

// For tests and the render benchmark: read-only access to the state, plus the api.
window.raftviz = {
  store, api, clock, perf, messageSpots: () => cluster.messageSpots(clusterSvg),
  showView, spacetime: { drawn: spacetime.drawn, stats: spacetime.stats }, changes: changes.marks,
};

requestAnimationFrame(loop);
