// The Paxos view: when `snapshot.protocol === "paxos"` the shared views ask this module for
// Paxos words (roles, ballots, phases), message shapes and the legend; it also owns the
// protocol switch (Raft / Multi-Paxos / Basic Paxos) in the Cluster panel and the notes that
// say which Raft-only controls are hidden.
//
// A Paxos node has the usual fields (role, term = highest ballot round, log = what this
// acceptor accepted as [slot, ballot round, command], commit_index = prefix known chosen)
// plus a `paxos` block (docs/snapshot.md). Nothing here sends commands except the switch.

import { attr, byId, el, svg, text } from "../dom.js";

export function isPaxos(snap) {
  return snap?.protocol === "paxos";
}

/** "multi", "basic" or "" (not Paxos), from the nodes' paxos blocks or the settings. */
export function modeOf(snap) {
  if (!isPaxos(snap)) return "";
  const s = snap.settings?.mode;
  if (s === "multi" || s === "basic") return s;
  const n = snap.nodes.find((x) => x.paxos?.mode);
  return n ? n.paxos.mode : "multi";
}

/** Is this node acting as a proposer right now (phase 1 or 2 of its own ballot)? */
export function proposing(n) {
  const phase = n.paxos?.phase;
  return n.state !== "crashed" && (phase === "prepare" || phase === "accept");
}

/** The role word under a Paxos node (never colour alone). */
export function roleWord(n, snap) {
  if (n.state === "crashed" || n.role === "crashed") return "CRASHED";
  const basic = modeOf(snap) === "basic";
  if (!basic && n.role === "leader") return "LEADER (distinguished proposer)";
  if (basic && proposing(n)) return "PROPOSER";
  if (!basic && n.paxos?.phase === "prepare") return "PROPOSER (prepare)";
  return "acceptor";
}

const PHASE_WORD = {
  idle: "idle",
  prepare: "phase 1: prepare",
  accept: "phase 2: accept",
  backoff: "backing off",
  down: "down",
};

/** The role word for a crowded ring (more than five servers): the label must fit. */
export function roleWordShort(n, snap) {
  const word = roleWord(n, snap);
  return word === "LEADER (distinguished proposer)" ? "LEADER (proposer)" : word.replace(" (prepare)", "");
}

/** The short line under a node: promised ballot and phase. */
export function detail(n) {
  const p = n.paxos || {};
  const promised = p.promised_ballot && p.promised_ballot !== "0" ? p.promised_ballot : "none";
  const phase = p.phase && p.phase !== "idle" && p.phase !== "down" ? ` · ${p.phase}` : "";
  return `promised ${promised}${phase}`;
}

/** Slots this node knows to be chosen (commit_index prefix + paxos.chosen). */
export function chosenSet(n) {
  return new Set(n.paxos?.chosen || []);
}

export function isChosen(n, slot, chosen = chosenSet(n)) {
  return slot <= (n.commit_index || 0) || chosen.has(slot);
}

/** The inspector's rows for a Paxos node: [label, value, testid?]. */
export function inspectorRows(n, snap, ms) {
  const p = n.paxos || {};
  const basic = modeOf(snap) === "basic";
  const chosen = chosenSet(n);
  const accepted = (n.log || []).map(([slot, round, cmd]) => `${slot}: ${cmd} @ ballot ${round}${isChosen(n, slot, chosen) ? " ✓ chosen" : ""}`);
  const values = Object.entries(p.chosen_values || {}).map(([slot, cmd]) => `${slot}: ${cmd}`);
  const open = Object.entries(p.accepted_by || {}).map(([slot, who]) => `slot ${slot}: ${who.join(", ") || "nobody"} (${who.length}/${Math.floor(snap.nodes.length / 2) + 1})`);
  const rows = [
    ["role", roleWord(n, snap), "insp-paxos-role"],
    ["mode", basic ? "Basic Paxos (one decree per run of phases)" : "Multi-Paxos (one leader skips phase 1)"],
    ["promised ballot", p.promised_ballot || "none", "insp-promised"],
    ["own ballot", p.ballot || "–", "insp-ballot"],
    ["proposer phase", PHASE_WORD[p.phase] || p.phase || "idle", "insp-phase"],
    ["promises counted", (n.votes || []).length ? `${n.votes.join(", ")} (${n.votes.length}/${Math.floor(snap.nodes.length / 2) + 1})` : "none", "insp-promises"],
    ["accepted per slot", accepted.length ? accepted.slice(-8).join("; ") : "nothing", "insp-accepted"],
    ["chosen values", values.length ? values.slice(-8).join("; ") : "none yet", "insp-chosen"],
    ["accepted_by (open slots)", open.length ? open.join("; ") : "no open slots", "insp-accepted-by"],
    ["chosen prefix", `slots 1…${n.commit_index || 0}`, "insp-commit"],
    ["knows leader", n.leader_id ?? "unknown"],
    ["clock", `${ms(n.clock?.local)}${n.clock?.frozen ? ", frozen" : ""}`],
    ["restarts", n.incarnation ?? 0],
  ];
  if (n.election) rows.push([basic ? "retry timer" : "leader timeout", `${ms(n.election.elapsed)} of ${ms(n.election.timeout)}`]);
  if (n.leader_state) {
    rows.push(["next slot", n.leader_state.next_slot ?? "–"]);
    rows.push(["next heartbeat", `in ${ms(n.leader_state.heartbeat_in)}`]);
  }
  if (n.state === "paused") rows.push(["messages waiting", n.inbox ?? 0]);
  return rows;
}

// ------------------------------------------------------------------- messages

/** Kind -> how it is drawn: family (colour), shape, and whether it is a refusal. */
const KINDS = {
  Prepare: { family: "prepare", shape: "diamond" },
  Promise: { family: "prepare", shape: "diamond" },
  Nack: { family: "nack", shape: "nack" },
  Accept: { family: "accept", shape: "triangle" },
  Accepted: { family: "accept", shape: "triangle" },
  Learn: { family: "learn", shape: "star" },
  Heartbeat: { family: "append", shape: "circle", heartbeat: true },
  CatchUp: { family: "append", shape: "circle" },
};

export function isPaxosKind(kind) {
  return Object.hasOwn(KINDS, kind);
}

export function lookOf(m) {
  const k = KINDS[m.kind];
  if (!k) return null;
  return { family: k.family, shape: k.shape, reply: Boolean(m.reply), heartbeat: Boolean(k.heartbeat), doomed: Boolean(m.doomed), nack: k.shape === "nack" };
}

/** Trace a Paxos message shape on a 2d context (the caller fills and strokes). */
export function tracePath(g, shape, x, y, size) {
  if (shape === "diamond") {
    const d = size * 1.35;
    g.moveTo(x, y - d);
    g.lineTo(x + d, y);
    g.lineTo(x, y + d);
    g.lineTo(x - d, y);
    g.closePath();
  } else if (shape === "triangle") {
    const d = size * 1.4;
    g.moveTo(x, y - d);
    g.lineTo(x + d * 0.95, y + d * 0.7);
    g.lineTo(x - d * 0.95, y + d * 0.7);
    g.closePath();
  } else if (shape === "star") {
    const outer = size * 1.45;
    const inner = size * 0.65;
    for (let i = 0; i < 10; i++) {
      const r = i % 2 ? inner : outer;
      const a = -Math.PI / 2 + (i * Math.PI) / 5;
      if (i === 0) g.moveTo(x + r * Math.cos(a), y + r * Math.sin(a));
      else g.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    g.closePath();
  } else {
    g.arc(x, y, size, 0, Math.PI * 2);
  }
}

/** A Nack: a hollow circle with a bold ✕ inside (a refusal, not only a colour). */
export function drawNackMark(g, x, y, size, color) {
  const k = size * 0.6;
  g.setLineDash([]);
  g.lineWidth = 2.4;
  g.strokeStyle = color;
  g.beginPath();
  g.moveTo(x - k, y - k);
  g.lineTo(x + k, y + k);
  g.moveTo(x + k, y - k);
  g.lineTo(x - k, y + k);
  g.stroke();
}

function icon(cls, shape) {
  let s;
  if (shape === "diamond") s = svg("polygon", { class: "msg-shape", points: "7,1 13,7 7,13 1,7" });
  else if (shape === "triangle") s = svg("polygon", { class: "msg-shape", points: "7,1 13,12 1,12" });
  else if (shape === "star") s = svg("polygon", { class: "msg-shape", points: "7,0.5 8.6,5 13.3,5 9.5,7.9 10.9,12.5 7,9.7 3.1,12.5 4.5,7.9 0.7,5 5.4,5" });
  else if (shape === "nack") {
    return svg("svg", { class: "legend-icon", viewBox: "0 0 14 14", width: 14, height: 14 },
      svg("g", { class: cls }, svg("circle", { class: "msg-shape", cx: 7, cy: 7, r: 5.5 }), svg("path", { class: "nack-x", d: "M4,4L10,10M10,4L4,10" })));
  } else s = svg("circle", { class: "msg-shape", cx: 7, cy: 7, r: cls.includes("heartbeat") ? 3.5 : 5.5 });
  return svg("svg", { class: "legend-icon", viewBox: "0 0 14 14", width: 14, height: 14 }, svg("g", { class: cls }, s));
}

/** The Paxos legend items (shapes + words). */
export function legendItems() {
  const item = (cls, shape, label) => el("span", { class: "legend-item" }, icon(cls, shape), el("span", { text: label }));
  return [
    item("msg k-prepare request", "diamond", "Prepare"),
    item("msg k-prepare reply", "diamond", "Promise"),
    item("msg k-nack reply", "nack", "Nack (refused)"),
    item("msg k-accept request", "triangle", "Accept"),
    item("msg k-accept reply", "triangle", "Accepted"),
    item("msg k-learn request", "star", "Learn"),
    item("msg k-append request heartbeat", "circle", "heartbeat"),
    item("msg k-client request", "square", "client"),
    el("span", { class: "legend-item" }, el("span", { text: "hollow = reply" })),
    el("span", { class: "legend-item" }, el("span", { class: "legend-x", text: "✕" }), el("span", { text: "lost" })),
  ];
}

// ---------------------------------------------------------------- the switch

const CHOICES = [
  ["raft", "Raft"],
  ["multi", "Multi-Paxos"],
  ["basic", "Basic Paxos"],
];

class PaxosChrome {
  constructor(ctx) {
    this.ctx = ctx;
    this.radios = new Map();
    const group = el("div", { class: "protocol-switch", role: "radiogroup", "aria-label": "Protocol", "data-testid": "protocol-switch" });
    for (const [value, label] of CHOICES) {
      const input = el("input", { type: "radio", name: "protocol", value, "data-testid": `protocol-${value}` });
      input.addEventListener("change", () => {
        if (input.checked) this.choose(value);
      });
      this.radios.set(value, input);
      group.append(el("label", { class: "proto-choice" }, input, el("span", { text: label })));
    }
    this.group = group;
    this.note = el("p", { class: "hint paxos-note", "data-testid": "raft-only-note", hidden: true,
      text: "Paxos is running: Raft-only controls (Pre-Vote, CheckQuorum, ReadIndex and lease reads) are hidden or disabled." });
    const form = byId("reset-form");
    form?.parentNode.insertBefore(el("div", { class: "protocol-row" }, el("span", { class: "proto-label", text: "protocol" }), group), form);
    form?.parentNode.insertBefore(this.note, form);
    this.settingsNote = el("p", { class: "hint paxos-note", hidden: true, text: "Paxos settings. Raft-only settings (Pre-Vote, CheckQuorum, fast backup, lease reads) do not apply." });
    byId("settings")?.before(this.settingsNote);
    this.hint = el("span", { class: "paxos-hint", "data-testid": "paxos-start-hint", hidden: true });
    byId("start-hint")?.append(this.hint);
    this.current = "";
  }

  choose(value) {
    const size = Number(byId("cfg-size")?.value) || this.ctx.snapshot()?.size || 5;
    const seed = Number(byId("cfg-seed")?.value ?? this.ctx.snapshot()?.seed ?? 1);
    const config = { size, seed };
    const net = this.ctx.snapshot()?.network?.defaults;
    if (net) config.network = { ...net };
    if (value !== "raft") {
      config.protocol = "paxos";
      config.paxos = { mode: value };
    }
    this.ctx.reset(config);
  }

  render(snap) {
    const paxos = isPaxos(snap);
    const mode = paxos ? modeOf(snap) : "raft";
    if (mode !== this.current) {
      this.current = mode;
      for (const [value, input] of this.radios) input.checked = value === mode;
      document.body.classList.toggle("protocol-paxos", paxos);
      document.body.dataset.protocol = mode;
      this.note.hidden = !paxos;
      this.settingsNote.hidden = !paxos;
      const sub = document.querySelector(".brand-sub");
      if (sub) text(sub, paxos ? `${mode === "basic" ? "Basic Paxos" : "Multi-Paxos"} live lab` : "Raft live lab");
      const termKey = byId("stat-term")?.parentNode?.querySelector(".stat-k");
      if (termKey) text(termKey, paxos ? "ballot" : "term");
      this.hint.hidden = !paxos;
      text(this.hint, mode === "basic"
        ? "or press Space. Basic Paxos: every server is an acceptor; a client write makes its server a proposer."
        : "or press Space. Multi-Paxos: one server wins phase 1 and leads as the distinguished proposer.");
      const legend = byId("legend");
      if (legend) this.ctx.legend(legend, paxos);
    }
    const unsafeNote = document.querySelector("#teaching .unsafe-note");
    if (unsafeNote) text(unsafeNote, paxos ? "⚠ Each breaks Paxos's safety on purpose, to show why the rule exists." : "⚠ Each breaks Raft's safety on purpose, to show why the rule exists.");
  }

  /** Disable the Raft-only read modes in an open server menu. */
  adaptMenu(box, snap) {
    const select = box?.querySelector('[data-testid="read-mode"]');
    if (!select) return;
    const paxos = isPaxos(snap);
    for (const option of select.options) {
      const raftOnly = option.value === "read_index" || option.value === "lease";
      option.disabled = paxos && raftOnly;
      option.hidden = paxos && raftOnly;
    }
    if (paxos && select.selectedOptions[0]?.disabled) select.value = "log";
    attr(select, "title", paxos ? "ReadIndex and lease reads are Raft-only: hidden while Paxos runs" : "read mode");
  }
}

let chrome = null;

/** ctx: reset(config), snapshot(), legend(box, paxos). */
export function mount(ctx) {
  chrome = new PaxosChrome(ctx);
  return chrome;
}

export function render(_root, snapshot) {
  if (snapshot) chrome?.render(snapshot);
}

export function adaptMenu(box, snapshot) {
  chrome?.adaptMenu(box, snapshot);
}
