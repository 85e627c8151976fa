// The cluster canvas: servers on a ring (or one ring per side of a partition), the links between
// them, messages in flight and lost ones. `render` updates structure and classes from a snapshot
// (about 20 times a second); `animate` moves things at display rate between frames.
//
// Roles are CSS classes *and* shapes *and* words: follower = circle, candidate = diamond,
// pre-candidate = dashed diamond, leader = circle with a thick ring, a crown and "LEADER",
// crashed = grey with an X and "CRASHED", paused = pause bars and "PAUSED".

import { attr, el, keyed, svg, text } from "../dom.js";
import { byNodeId } from "../format.js";
import * as paxos from "./paxos.js";
import * as membership from "./membership.js";
import * as scripting from "./scripting.js";

const DRAG_START_PX = 6;
const TWEEN_MS = 220;
const LOST_FADE_MS = 1800;
const DEPART_MAX_MS = 400;
const NEW_ZONE_SHARE = 0.24;
const QUEUE_SHOWN = 5; // held messages drawn one by one on a link; the rest are counted
const SIDE_NAMES = "ABCDEFGHI";

const ROLE_WORD = {
  follower: "follower",
  "pre-candidate": "pre-candidate",
  candidate: "candidate",
  leader: "LEADER",
  crashed: "CRASHED",
};

const KIND_CLASS = {
  RequestVote: "k-vote",
  RequestVoteReply: "k-vote",
  AppendEntries: "k-append",
  AppendEntriesReply: "k-append",
  InstallSnapshot: "k-snapshot",
  InstallSnapshotReply: "k-snapshot",
  ClientRequest: "k-client",
  ClientReply: "k-client",
};

/** All view state lives here, one per mounted canvas. */
class ClusterView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.w = 800;
    this.h = 450;
    this.R = 32;
    this.snap = null;
    this.ids = [];
    this.target = new Map(); // node id -> {x, y} where layout wants it
    this.pos = new Map(); // node id -> {x, y} where it is drawn now
    this.columns = []; // [{ids, free}] the sides of the current layout
    this.nodes = new Map();
    this.fs = 14;
    this.links = new Map();
    this.msgs = new Map(); // message id -> {m, look}
    this.departing = new Map(); // message id -> {m, look, since}: arrived, still gliding in
    this.spots = new Map(); // message id -> where it was drawn (for clicks)
    this.lostSeen = new Set();
    this.lost = [];
    this.drag = null;
    this.lastTick = performance.now();
    // prefers-reduced-motion: servers jump to their new places and messages hop from "just
    // sent" to "about to arrive" instead of gliding (WCAG 2.3.3).
    this.reducedMotion = window.matchMedia?.("(prefers-reduced-motion: reduce)") ?? { matches: false };
    this.build();
  }

  build() {
    const root = this.root;
    root.append(
      (this.gHulls = svg("g", { id: "cl-hulls" })),
      (this.gZones = svg("g", { id: "cl-zones" })),
      (this.gLinks = svg("g", { id: "cl-links" })),
      (this.gHub = svg("g", { id: "cl-hub", class: "hub" },
        svg("rect", { class: "hub-box", x: -34, y: -13, width: 68, height: 26, rx: 7 }),
        svg("text", { class: "hub-label", y: 4, text: "clients" }))),
      (this.gNodes = svg("g", { id: "cl-nodes" })),
    );
    // Messages move every display frame. Drawn on a canvas layer of their own, hundreds of
    // them cost a millisecond, with no style, layout or SVG repaint of the servers and links.
    this.canvas = el("canvas", { class: "cluster-overlay", id: "cl-msgs", "data-testid": "message-layer", "aria-hidden": "true" });
    this.g2d = this.canvas.getContext("2d");
    root.after(this.canvas);
    this.readColors();
    // Messages are hit-tested by hand: before a node or a link sees the pointer.
    root.parentNode.addEventListener("pointerdown", (e) => this.onMessagePointer(e), true);
    root.parentNode.addEventListener("click", (e) => {
      const swallow = this.swallowClick && this.root.contains(e.target);
      this.swallowClick = false;
      if (swallow) {
        e.stopPropagation();
        e.preventDefault();
      }
    }, true);
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(root);
    this.resize();
    root.addEventListener("pointermove", (e) => this.onPointerMove(e));
    root.addEventListener("pointerup", (e) => this.onPointerUp(e));
    root.addEventListener("pointercancel", () => this.cancelDrag());
  }

  resize() {
    const box = this.root.getBoundingClientRect();
    if (box.width < 10 || box.height < 10) return;
    this.w = box.width;
    this.h = box.height;
    attr(this.root, "viewBox", `0 0 ${Math.round(this.w)} ${Math.round(this.h)}`);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.w * dpr);
    this.canvas.height = Math.round(this.h * dpr);
    this.dpr = dpr;
    this.relayout(true);
  }

  // ------------------------------------------------------------------ layout

  /** The sides of the network: one per partition group, plus nodes in no group. */
  computeColumns(snap) {
    const groups = (snap.network?.groups || []).filter((g) => g.length);
    if (!groups.length) return [{ ids: this.ids.slice(), free: false }];
    const grouped = new Set(groups.flat());
    const cols = groups.map((g) => ({ ids: g.slice().sort(byNodeId), free: false }));
    const rest = this.ids.filter((id) => !grouped.has(id));
    if (rest.length) cols.push({ ids: rest, free: true });
    return cols;
  }

  relayout(snapNow = false) {
    if (!this.snap) return;
    const n = this.ids.length;
    const fs = parseFloat(getComputedStyle(this.root).fontSize) || 14;
    const minSide = Math.min(this.w, this.h);
    this.fs = fs;
    this.R = Math.max(18, Math.min(56, minSide * (n <= 5 ? 0.085 : n <= 7 ? 0.075 : 0.064), fs * 3.3));
    const R = this.R;
    const usable = this.drag ? this.w * (1 - NEW_ZONE_SHARE) : this.w;
    const cols = this.columns;
    const partitioned = cols.length > 1;
    // Room above a node: the side's label, then the crown or vote pips. Below: two label
    // lines, then the legend.
    const yTop = fs * (partitioned ? 2.4 : 0.6) + R * 1.25 + 22;
    const yBot = this.h - fs * 1.9 - fs * 2.7 - R;
    const cy = (yTop + yBot) / 2;
    const ry = Math.max(0, (yBot - yTop) / 2);
    const colW = usable / cols.length;
    cols.forEach((col, c) => {
      const cx = colW * (c + 0.5);
      const k = col.ids.length;
      const rx = Math.max(0, Math.min(colW / 2 - R - fs * 3.4, ry * (k >= 7 ? 2.4 : 1.9) + R));
      // Two servers side by side on a wide canvas; otherwise start at the top, clockwise.
      const start = k === 2 && !partitioned && colW > this.h ? Math.PI : -Math.PI / 2;
      col.ids.forEach((id, i) => {
        const angle = start + (2 * Math.PI * i) / Math.max(k, 1);
        const x = k <= 1 ? cx : cx + rx * Math.cos(angle);
        const y = k <= 1 ? cy : cy + ry * Math.sin(angle);
        this.target.set(id, { x, y });
      });
      col.cx = cx;
      col.x0 = colW * c;
      col.x1 = colW * (c + 1);
    });
    for (const id of this.ids) {
      if (!this.pos.has(id) || snapNow) this.pos.set(id, { ...this.target.get(id) });
    }
    this.hub = partitioned ? { x: colW, y: fs * 1.3 } : { x: usable / 2, y: cy };
    for (const g of this.nodes.values()) this.sizeNode(g);
    this.placedVersion = null; // place everything on the next display frame
  }

  // ------------------------------------------------------------------ render

  render(snap) {
    const first = !this.snap;
    this.snap = snap;
    this.version = (this.version || 0) + 1;
    const ids = snap.nodes.map((n) => n.id);
    const changed = ids.join() !== this.ids.join();
    this.ids = ids;
    const cols = this.computeColumns(snap);
    const colsKey = JSON.stringify(cols.map((c) => c.ids));
    if (changed || first || colsKey !== this.colsKey) {
      this.colsKey = colsKey;
      this.columns = cols;
      if (changed) {
        this.pos.clear();
        this.rebuildLinks();
      }
      this.relayout(changed || first);
    }
    this.renderNodes(snap);
    this.renderLinks(snap);
    this.renderHulls(snap);
    this.renderMessages(snap);
    this.renderLost(snap);
  }

  renderNodes(snap) {
    const majority = Math.floor(snap.nodes.length / 2) + 1;
    keyed(this.gNodes, snap.nodes, (n) => n.id, (n) => this.createNode(n.id), (g, n) => {
      const role = n.role || "follower";
      const state = n.state || "up";
      const cls = `node role-${role} state-${state}`
        + (this.ctx.isSelected("node", n.id) ? " selected" : "")
        + (this.drag?.id === n.id && this.drag.moved ? " dragging" : "");
      attr(g, "class", cls);
      attr(g, "data-role", role);
      attr(g, "data-state", state);
      attr(g, "data-term", n.term);
      const parts = g.parts;
      const px = paxos.isPaxos(snap);
      const fullWord = px ? paxos.roleWord(n, snap) : ROLE_WORD[role] || role;
      let roleWord = px && snap.nodes.length > 5 ? paxos.roleWordShort(n, snap) : fullWord;
      const member = px ? null : membership.membershipWord(n);
      if (member) roleWord = state === "crashed" ? `${member} · ${roleWord}` : member;
      if (state === "paused") roleWord = `PAUSED · ${roleWord}`;
      g.classList.toggle("member-learner", n.membership === "learner");
      g.classList.toggle("member-removed", n.membership === "removed");
      text(parts.role, `${roleWord} `);
      if (px) attr(g, "data-paxos-role", fullWord.split(" ")[0].toLowerCase());
      let detail = `term ${n.term}`;
      if (px) {
        detail = paxos.detail(n);
        if (role === "candidate" && n.state !== "crashed") detail += ` · ${(n.votes || []).length}/${majority} promises`;
      } else if (role === "candidate" || role === "pre-candidate") {
        detail += ` · ${(n.votes || []).length}/${membership.votesNeeded(n, majority)} votes`;
      } else if (role === "leader") {
        // Not the lease's milliseconds: a label changing every frame costs a relayout of the
        // whole drawing. The outer arc shows the lease; the inspector gives the number.
        if ((n.leader_state?.lease_remaining || 0) > 0) detail += " · lease";
      } else if (n.voted_for) {
        detail += ` · voted ${n.voted_for}`;
      }
      text(parts.term, `${detail} `);
      text(parts.inbox, state === "paused" && n.inbox ? `${n.inbox} waiting` : "");
      // The disk: a badge while a write waits for its fsync (toggled, not re-laid out, as it
      // flickers under load), and a word for a slow disk, which is what a student must see.
      const disk = n.disk;
      g.classList.toggle("disk-writing", !!disk?.writing);
      g.classList.toggle("disk-slow", !!disk?.slow);
      const diskWords = disk?.slow ? (disk.writing ? `SLOW DISK · ${disk.writing.held} held` : "SLOW DISK") : "";
      text(parts.diskLabel, diskWords ? `${diskWords} ` : "");
      parts.track.style.display = state === "crashed" || role === "leader" ? "none" : "";
      // The accessible name starts with the words drawn on the node, in order (WCAG 2.5.3,
      // label in name); the drawn texts end in a space so that their joined text reads as words.
      const shown = [n.id, roleWord, detail, state === "paused" && n.inbox ? `${n.inbox} waiting` : "", diskWords];
      attr(g, "aria-label", `${shown.filter(Boolean).join(" ")}${px && fullWord !== roleWord ? ` (${fullWord})` : ""}. Click for actions, drag to partition.`);
      this.renderPips(g, n, snap);
    });
    this.nodes = this.gNodes.__keyed;
  }

  renderPips(g, n, snap) {
    const show = n.role === "candidate" || n.role === "pre-candidate";
    const pips = g.parts.pips;
    if (!show) {
      if (pips.childElementCount) pips.replaceChildren();
      return;
    }
    const granted = new Set(n.votes || []);
    const refused = new Set(n.votes_refused || []);
    const ids = snap.nodes.map((x) => x.id);
    const gap = Math.min(11, (this.R * 2.6) / Math.max(ids.length - 1, 1));
    const pipR = gap < 9 ? 3 : 4;
    const y = -this.R - 22;
    if (pips.childElementCount !== ids.length) {
      pips.replaceChildren(...ids.map(() => svg("g", { class: "pip" }, svg("circle", { r: pipR }), svg("path", { d: `M${-pipR + 1},${-pipR + 1}L${pipR - 1},${pipR - 1}M${pipR - 1},${-pipR + 1}L${-pipR + 1},${pipR - 1}` }))));
    }
    ids.forEach((id, i) => {
      const pip = pips.children[i];
      attr(pip, "transform", `translate(${(i - (ids.length - 1) / 2) * gap},${y})`);
      attr(pip, "class", `pip ${granted.has(id) ? "pip-yes" : refused.has(id) ? "pip-no" : "pip-wait"}`);
    });
  }

  createNode(id) {
    const p = {};
    const g = svg("g", { class: "node", id: `node-${id}`, "data-testid": `node-${id}`, "data-node": id, tabindex: 0, role: "button" },
      (p.select = svg("circle", { class: "select-ring" })),
      (p.track = svg("circle", { class: "timer-track" })),
      (p.halo = svg("circle", { class: "leader-halo" })),
      (p.circle = svg("circle", { class: "body body-circle" })),
      (p.diamond = svg("polygon", { class: "body body-diamond" })),
      (p.x = svg("path", { class: "crash-x" })),
      (p.id = svg("text", { class: "node-id", text: `${id} ` })),
      (p.crown = svg("path", { class: "crown" })),
      (p.pause = svg("g", { class: "pause-badge" }, svg("circle", { r: 9 }), svg("rect", { x: -4, y: -5, width: 3, height: 10 }), svg("rect", { x: 1, y: -5, width: 3, height: 10 }))),
      (p.disk = svg("g", { class: "disk-badge", "data-testid": `disk-badge-${id}` }, svg("title", { text: "writing to disk: its messages wait for the fsync" }), svg("rect", { x: -8, y: -7, width: 16, height: 14, rx: 3 }), svg("path", { d: "M-4,-7v5h8v-5M-4,7v-4h8v4" }))),
      (p.pips = svg("g", { class: "pips" })),
      (p.role = svg("text", { class: "role-label" })),
      (p.term = svg("text", { class: "term-label" })),
      (p.inbox = svg("text", { class: "inbox-label" })),
      (p.diskLabel = svg("text", { class: "disk-label", "data-testid": `disk-label-${id}` })),
    );
    g.parts = p;
    g.addEventListener("pointerdown", (e) => this.onPointerDown(e, id));
    g.addEventListener("contextmenu", (e) => {
      e.preventDefault();
      this.ctx.select("node", id);
      this.ctx.openNodeMenu(id);
    });
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.ctx.select("node", id);
        this.ctx.openNodeMenu(id);
      }
    });
    g.addEventListener("focus", () => {
      if (!this.ctx.isSelected("node", id)) this.ctx.select("node", id);
    });
    this.sizeNode(g);
    return g;
  }

  sizeNode(g) {
    const R = this.R;
    const p = g.parts;
    const fs = this.fs || 14;
    attr(p.select, "r", R + 17);
    attr(p.track, "r", R + 7);
    attr(p.halo, "r", R + 4);
    attr(p.circle, "r", R);
    attr(p.id, "font-size", Math.max(fs * 1.1, R * 0.52).toFixed(1));
    const d = R * 1.22;
    attr(p.diamond, "points", `0,${-d} ${d},0 0,${d} ${-d},0`);
    const k = R * 0.62;
    attr(p.x, "d", `M${-k},${-k}L${k},${k}M${k},${-k}L${-k},${k}`);
    const c = R / 34;
    attr(p.crown, "d", `M${-13 * c},${-R - 9 * c}l0,${-13 * c}l${6.5 * c},${6 * c}l${6.5 * c},${-9 * c}l${6.5 * c},${9 * c}l${6.5 * c},${-6 * c}l0,${13 * c}z`);
    attr(p.pause, "transform", `translate(${R * 0.78},${-R * 0.78})`);
    attr(p.role, "y", (R + 6 + fs * 1.05).toFixed(1));
    attr(p.term, "y", (R + 6 + fs * 2.15).toFixed(1));
    attr(p.inbox, "y", -R - 12);
    attr(p.disk, "transform", `translate(${-R * 0.78},${-R * 0.78}) scale(${Math.max(R / 34, 1).toFixed(2)})`);
    attr(p.diskLabel, "y", (R + 6 + fs * 3.25).toFixed(1));
  }

  rebuildLinks() {
    this.gLinks.replaceChildren();
    this.links.clear();
    for (let i = 0; i < this.ids.length; i++) {
      for (let j = i + 1; j < this.ids.length; j++) {
        const a = this.ids[i];
        const b = this.ids[j];
        const line = svg("line", { class: "link-line" });
        const hit = svg("line", { class: "link-hit" });
        const badge = svg("g", { class: "link-badge" }, svg("rect", { rx: 5, height: 18, y: -9 }), svg("text", { y: 4 }));
        const g = svg("g", { class: "link", "data-testid": `link-${a}-${b}`, "data-a": a, "data-b": b }, line, hit, badge, svg("title", { text: `link ${a} ↔ ${b}: click to cut or heal it, or drop one kind of message on it` }));
        g.parts = { line, hit, badge, label: badge.lastChild, rect: badge.firstChild };
        hit.addEventListener("click", (e) => {
          e.stopPropagation();
          this.ctx.openLinkMenu(a, b, this.svgPoint(e));
        });
        this.gLinks.append(g);
        this.links.set(`${a}|${b}`, g);
      }
    }
  }

  renderLinks(snap) {
    const cut = new Set((snap.network?.cut || []).map(([s, d]) => `${s}>${d}`));
    const groupOf = new Map();
    (snap.network?.groups || []).forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const [key, g] of this.links) {
      const [a, b] = key.split("|");
      const ga = groupOf.get(a);
      const gb = groupOf.get(b);
      const split = ga !== undefined && gb !== undefined && ga !== gb;
      const ab = cut.has(`${a}>${b}`);
      const ba = cut.has(`${b}>${a}`);
      let state = "ok";
      let label = "";
      if (ab && ba) { state = "cut"; label = "✕ cut"; }
      else if (ab) { state = "oneway"; label = `${a}→${b} ✕`; }
      else if (ba) { state = "oneway"; label = `${b}→${a} ✕`; }
      else if (split) state = "split";
      // Where along the link the badge sits (0 = at a): a drop rule's badge leans toward
      // the sender, off the middle of the ring where the clients box is.
      g.parts.at = 0.5;
      if (!label) {
        label = scripting.linkLabel(snap, a, b);
        if (label) {
          state = split ? "split" : "kind";
          g.parts.at = scripting.linkLabelAt(snap, a, b);
        }
      }
      attr(g, "class", `link link-${state}`);
      attr(g, "data-state", state);
      // A new badge goes on top of the other links, which would otherwise cross its text.
      if (label && g.parts.label.textContent !== label) this.gLinks.append(g);
      text(g.parts.label, label);
      g.parts.badge.style.display = label ? "" : "none";
      if (label) g.parts.width = label.length;
    }
  }

  renderHulls(snap) {
    const cols = this.columns;
    const n = snap.nodes.length;
    const majority = Math.floor(n / 2) + 1;
    const items = cols.length > 1 ? cols.map((c, i) => ({ ...c, i })) : [];
    keyed(this.gHulls, items, (c) => `${c.i}`, (c) => {
      const g = svg("g", { class: "hull" }, svg("path", { class: "hull-shape" }), svg("text", { class: "hull-label" }), svg("title"));
      g.parts = { path: g.children[0], label: g.children[1], title: g.children[2] };
      return g;
    }, (g, c) => {
      const live = c.ids.length;
      const side = c.free ? "reaches every side" : `side ${SIDE_NAMES[c.i]}`;
      const verdict = c.free ? "" : live >= majority ? " · majority" : " · minority";
      attr(g, "class", `hull hull-${c.i % 4}${c.free ? " hull-free" : ""}${!c.free && live >= majority ? " hull-majority" : ""}`);
      attr(g, "data-testid", `side-${c.free ? "free" : SIDE_NAMES[c.i]}`);
      text(g.parts.label, `${side} · ${live} of ${n}${verdict}`);
      text(g.parts.title, c.free ? "These servers are in no group: they reach every side."
        : live >= majority ? `A majority (${majority} of ${n}) is here: this side can elect a leader and commit.`
          : `Only ${live} of ${n} here, fewer than the majority of ${majority}: no leader can be elected and nothing can commit on this side (unless an unsafe teaching mode is on).`);
      g.col = c;
    });
  }

  renderMessages(snap) {
    const live = new Set();
    for (const m of snap.messages || []) {
      live.add(m.id);
      const rec = this.msgs.get(m.id);
      if (rec) rec.m = m;
      else this.msgs.set(m.id, { m, look: lookOf(m) });
    }
    const droppedIds = new Set((snap.dropped || []).map((d) => d.id));
    const now = performance.now();
    if (snap.full) this.departing.clear(); // a jump in time: nothing that vanished is on its way
    for (const [id, rec] of this.msgs) {
      if (live.has(id)) continue;
      this.msgs.delete(id);
      if (!snap.full && !droppedIds.has(id) && snap.time >= rec.m.sent) this.departing.set(id, { ...rec, since: now });
    }
    attr(this.canvas, "data-count", this.msgs.size);
  }

  renderLost(snap) {
    const recent = Math.max(300, (snap.player?.speed || 0.05) * 3000);
    for (const d of snap.dropped || []) {
      if (this.lostSeen.has(d.id)) continue;
      this.lostSeen.add(d.id);
      if (snap.time - d.lost_at > recent || this.lost.length > 60) continue;
      this.lost.push({ d, born: performance.now() });
    }
    if (this.lostSeen.size > 5000) this.lostSeen = new Set([...this.lostSeen].slice(-1000));
  }

  readColors() {
    const css = getComputedStyle(document.documentElement);
    const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    this.colors = {
      append: v("--k-append", "#2f5fd0"),
      vote: v("--k-vote", "#c05a0c"),
      client: v("--k-client", "#0b8a63"),
      snapshot: v("--k-snapshot", "#8a3ffc"),
      prepare: v("--k-prepare", "#c05a0c"),
      accept: v("--k-accept", "#6d28d9"),
      learn: v("--k-learn", "#0b8a63"),
      nack: v("--k-nack", "#c62828"),
      danger: v("--danger", "#c62828"),
      timer: v("--timer", "#8d99ab"),
      late: v("--candidate", "#b45309"),
      lease: v("--leader", "#0d7268"),
      ink: v("--ink", "#1b2230"),
      panel: "#ffffff",
    };
  }

  /** A pointer on a message: select it and offer Deliver / Drop (nodes and links never see it). */
  onMessagePointer(e) {
    if (e.button !== undefined && e.button !== 0) return;
    if (!this.root.contains(e.target)) return; // the popover, legend and hints are not the canvas
    const pt = this.svgPoint(e);
    const reach = 11 * this.ctx.scale() + (e.pointerType === "touch" ? 8 : 0);
    let best = null;
    let bestD = reach;
    for (const [id, spot] of this.spots) {
      const d = Math.hypot(spot.x - pt.x, spot.y - pt.y);
      if (d < bestD) {
        bestD = d;
        best = id;
      }
    }
    if (best === null) return;
    e.stopPropagation();
    e.preventDefault();
    this.swallowClick = true;
    this.ctx.select("message", best);
    this.ctx.openMessageMenu(best, pt);
  }

  // ----------------------------------------------------------------- animate

  /** Move nodes toward their layout, messages along their links, the timers' arcs. */
  animate(now, display) {
    const snap = this.snap;
    if (!snap) return;
    const dt = Math.min(now - this.lastTick, 100);
    this.lastTick = now;
    const pull = this.reducedMotion.matches ? 1 : Math.min(1, dt / TWEEN_MS * 2.2);
    let moving = this.version !== this.placedVersion || Boolean(this.drag?.moved);
    for (const id of this.ids) {
      const p = this.pos.get(id);
      const t = this.target.get(id);
      if (!p || !t) continue;
      if (this.drag?.moved && this.drag.id === id) {
        p.x = this.drag.x;
        p.y = this.drag.y;
      } else if (Math.abs(t.x - p.x) + Math.abs(t.y - p.y) > 0.05) {
        p.x += (t.x - p.x) * pull;
        p.y += (t.y - p.y) * pull;
        moving = true;
      }
    }
    // Servers, links and sides only need placing while something moves or changed.
    this.placedVersion = this.version;
    if (moving) attr(this.gHub, "transform", `translate(${this.hub.x.toFixed(1)},${this.hub.y.toFixed(1)})`);
    const ahead = Math.max(0, display - snap.time);
    const arcs = [];
    for (const n of snap.nodes) {
      const g = this.nodes.get(n.id);
      if (!g) continue;
      const p = this.pos.get(n.id);
      if (p && moving) attr(g, "transform", `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
      // The election timer and the lease run continuously: they are drawn on the canvas with
      // the messages, so the SVG stays untouched between frames.
      if (!p) continue;
      const e = n.election;
      if (e && n.state === "up" && e.timeout > 0) {
        const f = Math.min(1, (e.elapsed + ahead) / e.timeout);
        arcs.push({ x: p.x, y: p.y, r: this.R + 7, f, color: f > 0.8 ? this.colors.late : this.colors.timer, width: 4 });
      }
      const lease = n.leader_state ? Math.max(0, (n.leader_state.lease_remaining || 0) - ahead) : 0;
      if (lease > 0) {
        const base = snap.settings?.election_timeout_min || 150;
        arcs.push({ x: p.x, y: p.y, r: this.R + 12, f: Math.min(1, lease / base), color: this.colors.lease, width: 3 });
      }
    }
    if (moving) {
      for (const g of this.links.values()) this.placeLink(g);
      for (const g of this.gHulls.children) this.placeHull(g);
    }
    this.drawMessages(display, now, arcs);
    if (this.drag?.moved) this.renderZones();
  }

  placeLink(g) {
    const a = this.pos.get(g.dataset.a);
    const b = this.pos.get(g.dataset.b);
    if (!a || !b) return;
    const { line, hit, badge } = g.parts;
    for (const l of [line, hit]) {
      attr(l, "x1", a.x.toFixed(1));
      attr(l, "y1", a.y.toFixed(1));
      attr(l, "x2", b.x.toFixed(1));
      attr(l, "y2", b.y.toFixed(1));
    }
    if (badge.style.display !== "none") {
      const w = (g.parts.width || 4) * 7 + 12;
      attr(g.parts.rect, "width", w);
      attr(g.parts.rect, "x", -w / 2);
      const t = g.parts.at ?? 0.5;
      attr(badge, "transform", `translate(${(a.x + (b.x - a.x) * t).toFixed(1)},${(a.y + (b.y - a.y) * t).toFixed(1)})`);
    }
  }

  placeHull(g) {
    const col = g.col;
    if (!col) return;
    const pts = col.ids.map((id) => this.pos.get(id)).filter(Boolean);
    if (!pts.length) return;
    const hull = convexHull(pts);
    const d = hull.length === 1
      ? `M${hull[0].x},${hull[0].y}l0.01,0`
      : `M${hull.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join("L")}${hull.length > 2 ? "Z" : ""}`;
    const pad = this.R + 26 * this.ctx.scale();
    attr(g.parts.path, "d", d);
    attr(g.parts.path, "stroke-width", (pad * 2).toFixed(1));
    const top = Math.min(...pts.map((p) => p.y)) - pad - 8;
    const cx = pts.reduce((s, p) => s + p.x, 0) / pts.length;
    attr(g.parts.label, "x", cx.toFixed(1));
    attr(g.parts.label, "y", Math.max(16, top).toFixed(1));
  }

  endpoint(id) {
    return this.pos.get(id) || this.hub;
  }

  drawMessages(display, now, arcs) {
    const snap = this.snap;
    const g = this.g2d;
    g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    g.clearRect(0, 0, this.w, this.h);
    g.setLineDash([]);
    g.lineCap = "round";
    for (const a of arcs) {
      g.beginPath();
      g.arc(a.x, a.y, a.r, -Math.PI / 2, -Math.PI / 2 + a.f * 2 * Math.PI);
      g.strokeStyle = a.color;
      g.lineWidth = a.width;
      g.stroke();
    }
    g.lineCap = "butt";
    const manual = Boolean(snap.network?.manual);
    const held = new Map();
    const s = this.ctx.scale();
    const selected = this.ctx.selectedMessage();
    this.spots = new Map();
    const chunkLabels = []; // where chunk labels went this frame: repeats of a chunk share one
    const place = (rec, forceProgress) => {
      const m = rec.m;
      const a = this.endpoint(m.from);
      const b = this.endpoint(m.to);
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      const ux = dx / len;
      const uy = dy / len;
      const inset = Math.min(this.R + 4, len / 2 - 1);
      const span = m.deliver - m.sent;
      let p = forceProgress ?? (span > 0 ? (display - m.sent) / span : 1);
      p = Math.min(1, Math.max(0, p));
      if (this.reducedMotion.matches && p < 1) p = p < 0.5 ? 0.2 : 0.8;
      let waiting = false;
      let queued = null;
      if (manual && p >= 1 && forceProgress === undefined) {
        // Held for manual delivery: queue up near the receiver, one behind the other; past
        // QUEUE_SHOWN the rest pile up at the tail under a "+n" count.
        const key = `${m.from}>${m.to}`;
        queued = held.get(key) || { k: 0 };
        held.set(key, queued);
        p = 0.86 - Math.min(queued.k, QUEUE_SHOWN - 1) * 0.09;
        queued.k += 1;
        waiting = true;
      }
      const travel = len - 2 * inset;
      // Requests and replies on one link keep to their own side of it.
      const side = (this.pos.has(m.from) && this.pos.has(m.to)) ? 7 * s : 0;
      const x = a.x + ux * (inset + travel * p) - uy * side;
      const y = a.y + uy * (inset + travel * p) + ux * side;
      this.spots.set(m.id, { x, y });
      if (queued) queued.tail = { x: x - ux * 14 * s, y: y - uy * 14 * s };
      if (!queued || queued.k <= QUEUE_SHOWN || m.id === selected) {
        this.drawShape(g, rec.look, x, y, s, waiting && !this.reducedMotion.matches ? now : 0, m.id === selected);
        if (m.chunk && !chunkLabels.some((p) => Math.hypot(p.x - x, p.y - y) < 40 * s)) {
          chunkLabels.push({ x, y });
          this.drawChunk(g, m.chunk, chunkLabel(m.chunk, snap), x, y, s);
        }
      }
      if (m.chunk) this.spots.get(m.id).chunk = chunkLabel(m.chunk, snap);
    };
    for (const rec of this.msgs.values()) place(rec);
    for (const [id, rec] of this.departing) {
      const span = rec.m.deliver - rec.m.sent;
      const p = span > 0 ? (display - rec.m.sent) / span : 1;
      if (p >= 1 || now - rec.since > DEPART_MAX_MS || manual) this.departing.delete(id);
      else place(rec, p);
    }
    this.spots = new Map([...this.spots].filter(([id]) => this.msgs.has(id)));
    g.font = `800 ${Math.round(11 * s)}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.textBaseline = "middle";
    for (const q of held.values()) {
      if (q.k <= QUEUE_SHOWN) continue;
      const label = `+${q.k - QUEUE_SHOWN}`;
      const w = g.measureText(label).width + 8;
      g.fillStyle = this.colors.panel;
      g.strokeStyle = this.colors.ink;
      g.lineWidth = 1;
      g.setLineDash([]);
      g.beginPath();
      g.rect(q.tail.x - w / 2, q.tail.y - 8 * s, w, 16 * s);
      g.fill();
      g.stroke();
      g.fillStyle = this.colors.ink;
      g.fillText(label, q.tail.x, q.tail.y + 0.5);
    }
    g.textBaseline = "alphabetic";
    this.drawLost(g, now, s);
  }

  /** One message: filled (request) or hollow (reply); circle, diamond or square by kind. */
  drawShape(g, look, x, y, s, pulse, selected) {
    const color = this.colors[look.family] || this.colors.append;
    const size = (look.heartbeat ? 4.5 : 7) * s;
    g.beginPath();
    if (look.shape) {
      paxos.tracePath(g, look.shape, x, y, size);
    } else if (look.family === "vote") {
      const d = size * 1.35;
      g.moveTo(x, y - d);
      g.lineTo(x + d, y);
      g.lineTo(x, y + d);
      g.lineTo(x - d, y);
      g.closePath();
    } else if (look.family === "client") {
      g.rect(x - size, y - size, size * 2, size * 2);
    } else if (look.family === "snapshot") {
      // A wide "file" block: InstallSnapshot carries a piece of the snapshot file.
      g.rect(x - size * 1.5, y - size, size * 3, size * 2);
    } else {
      g.arc(x, y, size, 0, Math.PI * 2);
    }
    g.setLineDash(look.doomed ? [2, 2] : []);
    g.lineWidth = (look.reply ? 2.6 : 1.5) + (pulse ? 1.5 + 1.5 * Math.sin(pulse / 190) : 0);
    g.strokeStyle = selected ? this.colors.ink : color;
    g.fillStyle = look.reply ? this.colors.panel : color;
    g.globalAlpha = look.doomed ? 0.75 : 1;
    g.fill();
    g.stroke();
    if (look.nack) paxos.drawNackMark(g, x, y, size, color);
    if (selected) {
      g.setLineDash([]);
      g.lineWidth = 2;
      g.beginPath();
      g.arc(x, y, size + 6, 0, Math.PI * 2);
      g.stroke();
    }
    g.globalAlpha = 1;
  }

  /** An InstallSnapshot chunk: which chunk of how many, and a bar of the bytes sent so far. */
  drawChunk(g, chunk, label, x, y, s) {
    const w = 34 * s;
    const h = 4 * s;
    const top = y + 10 * s;
    const done = chunk.size ? (chunk.offset + chunk.length) / chunk.size : 1;
    g.setLineDash([]);
    g.globalAlpha = 1;
    g.lineWidth = 1;
    g.fillStyle = this.colors.panel;
    g.strokeStyle = this.colors.snapshot;
    g.fillRect(x - w / 2, top, w, h);
    g.strokeRect(x - w / 2, top, w, h);
    g.fillStyle = this.colors.snapshot;
    g.fillRect(x - w / 2, top, w * Math.min(1, done), h);
    g.font = `700 ${Math.round(10 * s)}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.textBaseline = "alphabetic";
    g.lineWidth = 3;
    g.strokeStyle = this.colors.panel;
    g.strokeText(label, x, top + h + 11 * s);
    g.fillStyle = this.colors.ink;
    g.fillText(label, x, top + h + 11 * s);
  }

  /** Lost messages: a red cross and "lost" where they died, fading out. */
  drawLost(g, now, s) {
    const keep = [];
    g.setLineDash([]);
    g.lineCap = "round";
    g.font = `800 ${Math.round(10 * s)}px system-ui, sans-serif`;
    g.textAlign = "center";
    for (const item of this.lost) {
      const age = now - item.born;
      if (age > LOST_FADE_MS) continue;
      keep.push(item);
      const d = item.d;
      const a = this.endpoint(d.from);
      const b = this.endpoint(d.to);
      const span = d.deliver - d.sent;
      const p = Math.min(0.9, Math.max(0.1, span > 0 ? (d.lost_at - d.sent) / span : 0.9));
      const x = a.x + (b.x - a.x) * p;
      const y = a.y + (b.y - a.y) * p;
      const k = 6 * s;
      g.globalAlpha = 1 - age / LOST_FADE_MS;
      g.strokeStyle = this.colors.danger;
      g.fillStyle = this.colors.danger;
      g.lineWidth = 3;
      g.beginPath();
      g.moveTo(x - k, y - k);
      g.lineTo(x + k, y + k);
      g.moveTo(x + k, y - k);
      g.lineTo(x - k, y + k);
      g.stroke();
      g.fillText("lost", x, y + k + 11 * s);
    }
    g.globalAlpha = 1;
    this.lost = keep;
  }

  // -------------------------------------------------------------------- drag

  svgPoint(e) {
    const box = this.root.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  onPointerDown(e, id) {
    if (e.button !== undefined && e.button !== 0) return;
    const pt = this.svgPoint(e);
    this.drag = { id, pointerId: e.pointerId, x0: pt.x, y0: pt.y, x: pt.x, y: pt.y, moved: false };
    try {
      this.root.setPointerCapture(e.pointerId);
    } catch {
      /* synthetic events cannot be captured */
    }
  }

  onPointerMove(e) {
    const drag = this.drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    const pt = this.svgPoint(e);
    drag.x = pt.x;
    drag.y = pt.y;
    if (!drag.moved && Math.hypot(pt.x - drag.x0, pt.y - drag.y0) > DRAG_START_PX) {
      drag.moved = true;
      this.ctx.closePopover();
      this.relayout();
      this.root.classList.add("is-dragging");
    }
  }

  onPointerUp(e) {
    const drag = this.drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    this.drag = null;
    this.root.classList.remove("is-dragging");
    this.gZones.replaceChildren();
    if (!drag.moved) {
      this.ctx.select("node", drag.id);
      this.ctx.openNodeMenu(drag.id);
      return;
    }
    const zones = this.zones();
    const zone = zones.find((z) => drag.x >= z.x0 && drag.x < z.x1) || zones[zones.length - 1];
    this.relayout();
    this.ctx.movePartition(drag.id, zone);
  }

  cancelDrag() {
    if (!this.drag) return;
    this.drag = null;
    this.root.classList.remove("is-dragging");
    this.gZones.replaceChildren();
    this.relayout();
  }

  /** Drop targets while dragging: every current side, and a strip for a new side. */
  zones() {
    const zones = this.columns.map((c, i) => ({ x0: c.x0, x1: c.x1, ids: c.ids, free: c.free, index: i, label: c.free ? "reaches every side" : this.columns.length > 1 ? `side ${SIDE_NAMES[i]}` : "stay connected" }));
    const x0 = this.w * (1 - NEW_ZONE_SHARE);
    zones.push({ x0, x1: this.w + 1, ids: [], free: false, index: -1, isNew: true, label: "new side: drop to cut off" });
    return zones;
  }

  renderZones() {
    const zones = this.zones();
    const drag = this.drag;
    keyed(this.gZones, zones, (z) => `${z.index}`, () => {
      const g = svg("g", { class: "zone" }, svg("rect", { rx: 14 }), svg("text", {}));
      return g;
    }, (g, z) => {
      const over = drag && drag.x >= z.x0 && drag.x < z.x1;
      attr(g, "class", `zone${z.isNew ? " zone-new" : ""}${over ? " zone-over" : ""}`);
      attr(g, "data-testid", z.isNew ? "zone-new" : `zone-${z.index}`);
      const r = g.firstChild;
      attr(r, "x", (z.x0 + 6).toFixed(1));
      attr(r, "y", 6);
      attr(r, "width", Math.max(0, z.x1 - z.x0 - 12).toFixed(1));
      attr(r, "height", Math.max(0, this.h - 12).toFixed(1));
      const t = g.lastChild;
      attr(t, "x", ((z.x0 + Math.min(z.x1, this.w)) / 2).toFixed(1));
      attr(t, "y", this.h - 18);
      text(t, z.label);
    });
  }
}

/** How a message is drawn, decided once when it first appears. */
function lookOf(m) {
  const px = paxos.lookOf(m);
  if (px) return px;
  const family = (KIND_CLASS[m.kind] || "k-append").slice(2);
  return {
    family,
    reply: Boolean(m.reply),
    heartbeat: m.kind === "AppendEntries" && /\bheartbeat\b/.test(m.summary || ""),
    doomed: Boolean(m.doomed),
  };
}

function convexHull(points) {
  const pts = points.map((p) => ({ x: p.x, y: p.y })).sort((a, b) => a.x - b.x || a.y - b.y);
  if (pts.length <= 2) return pts;
  const cross = (o, a, b) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  upper.pop();
  lower.pop();
  return lower.concat(upper);
}

const views = new WeakMap();

/**
 * Mount the canvas. ctx: select(type, id), isSelected(type, id), openNodeMenu(id),
 * openLinkMenu(a, b, point), openMessageMenu(id, point), closePopover(), movePartition(id, zone),
 * scale() (1, or more in projector mode).
 */
export function mount(root, ctx) {
  const view = new ClusterView(root, ctx);
  views.set(root, view);
  return view;
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}

export function animate(root, now, display) {
  views.get(root)?.animate(now, display);
}

/** Where node `id` is drawn, in page coordinates relative to the canvas (for menus). */
export function nodePoint(root, id) {
  const view = views.get(root);
  const p = view?.pos.get(id);
  return p ? { x: p.x, y: p.y, r: view.R } : null;
}

/** Where each message in flight was last drawn, canvas coordinates (for tests and tools). */
export function messageSpots(root) {
  const view = views.get(root);
  return view ? [...view.spots].map(([id, p]) => ({ id, x: p.x, y: p.y, chunk: p.chunk ?? null })) : [];
}

/** "chunk 2/5": where an InstallSnapshot chunk sits in its snapshot (Fig. 13 offset). */
function chunkLabel(chunk, snap) {
  const per = snap?.settings?.snapshot_chunk_size || chunk.length || 1;
  const total = Math.max(1, Math.ceil(chunk.size / per));
  const k = Math.min(total, Math.floor(chunk.offset / per) + 1);
  return `chunk ${k}/${total}`;
}

export function relayout(root) {
  const view = views.get(root);
  if (view) {
    view.relayout(true);
    for (const g of view.nodes.values()) view.sizeNode(g);
  }
}

/** The current sides, for presets and drag (each {ids, free}). */
export function columns(root) {
  return views.get(root)?.columns || [];
}

/** A tiny legend of message shapes, built once. */
export function legend(box, paxosOn = false) {
  if (paxosOn) {
    box.replaceChildren(...paxos.legendItems());
    box.dataset.protocol = "paxos";
    return;
  }
  box.dataset.protocol = "raft";
  const item = (cls, shape, label) => el("span", { class: "legend-item" },
    svgIcon(cls, shape), el("span", { text: label }));
  box.replaceChildren(
    item("msg k-append request", "circle", "AppendEntries"),
    item("msg k-append request heartbeat", "circle", "heartbeat"),
    item("msg k-vote request", "diamond", "RequestVote"),
    item("msg k-client request", "square", "client"),
    item("msg k-snapshot request", "file", "InstallSnapshot"),
    item("msg k-append reply", "circle", "hollow = reply"),
    el("span", { class: "legend-item" }, el("span", { class: "legend-x", text: "✕" }), el("span", { text: "lost" })),
  );
}

function svgIcon(cls, shape) {
  const s = shape === "diamond"
    ? svg("polygon", { class: "msg-shape", points: "7,1 13,7 7,13 1,7" })
    : shape === "square"
      ? svg("rect", { class: "msg-shape", x: 2, y: 2, width: 10, height: 10, rx: 1.5 })
      : shape === "file"
        ? svg("rect", { class: "msg-shape", x: 0.5, y: 3, width: 13, height: 8, rx: 1 })
      : svg("circle", { class: "msg-shape", cx: 7, cy: 7, r: cls.includes("heartbeat") ? 3.5 : 5.5 });
  return svg("svg", { class: "legend-icon", viewBox: "0 0 14 14", width: 14, height: 14 }, svg("g", { class: cls }, s));
}
