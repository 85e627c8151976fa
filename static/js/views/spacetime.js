// The space-time (Lamport) diagram: one line per server, time along it, every message an arrow
// from its send to its end (a cross where it was dropped, a double line for a duplicate copy),
// and marks on the lines for elections, new leaders, step-downs, crashes, pauses, partitions
// and commits. Data comes from the server's run record in windows (the `spacetime` event,
// docs/protocol.md), so a 10-minute run scrolls without the page holding all of it; drawing is
// one canvas, and only what is on screen is drawn.
//
// Clicking an arrow jumps the lab to its send (where it is in flight) and opens it in the
// inspector; clicking a mark jumps to the mark and opens its server.

import { attr, el, text } from "../dom.js";
import { ms } from "../format.js";

const LANE_MIN = 34;
const LEFT = 64; // room for lane labels
const TOP = 22; // room for the time axis
const FETCH_MARGIN = 1.5; // fetch this many view widths either side of the view
const REFETCH_MS = 300; // at most this often while frames stream in
const MIN_SPAN = 5; // ms across the view at the deepest zoom
const MAX_SPAN = 700000;
const HIT_PX = 7;
const TILES_PER_VIEW = 4;

const KIND_COLOUR = {
  RequestVote: "#c05a0c",
  RequestVoteReply: "#c05a0c",
  AppendEntries: "#2f5fd0",
  AppendEntriesReply: "#2f5fd0",
  ClientRequest: "#0b8a63",
  ClientReply: "#0b8a63",
  Prepare: "#7c3aed",
  Promise: "#7c3aed",
  Accept: "#2f5fd0",
  Accepted: "#2f5fd0",
  Learn: "#0e7490",
  Nack: "#c62828",
  Heartbeat: "#8a93a3",
  CatchUp: "#9c8b35",
};
const SHORT = {
  RequestVote: "RV",
  RequestVoteReply: "RV ✓",
  AppendEntries: "AE",
  AppendEntriesReply: "AE ✓",
  ClientRequest: "req",
  ClientReply: "reply",
};
const REPLY = new Set(["RequestVoteReply", "AppendEntriesReply", "ClientReply", "Promise", "Accepted", "Nack"]);
const DROPS = new Set(["lost", "partitioned", "down", "dropped"]);
const MARK_STYLE = {
  candidate: { colour: "#b45309", label: "election" },
  pre_candidate: { colour: "#d97706", label: "pre-vote" },
  leader: { colour: "#0d7268", label: "leader" },
  follower: { colour: "#4a5568", label: "follower" },
  crash: { colour: "#111827", label: "crash" },
  restart: { colour: "#1b7f3b", label: "restart" },
  pause: { colour: "#6b3fd4", label: "pause" },
  resume: { colour: "#6b3fd4", label: "resume" },
  partition: { colour: "#c62828", label: "partition" },
  heal: { colour: "#1b7f3b", label: "heal" },
  cut: { colour: "#c62828", label: "link" },
  commit: { colour: "#1b7f3b", label: "commit" },
};

class SpaceTime {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.visible = false;
    this.span = 2000; // ms across the drawing area
    this.start = 0; // ms at the left edge
    this.follow = true; // keep the cursor in view while the run moves
    this.data = null; // the last window from the server
    this.fetching = false;
    this.wanted = null;
    this.lastFetch = 0;
    this.dirty = true;
    this.hidden = { kinds: new Set(), nodes: new Set() };
    this.drawn = { arrows: [], marks: [] };
    this.stats = { arrows: 0, dropped: 0, duplicates: 0, inFlight: 0, marks: {}, density: false };
    this.snap = null;
    this.cache = null; // the arrows, marks and shading of a stretch around the view, drawn once
    this.filterVersion = 0;
    this.fetchSerial = 0;
    this.drawMs = 0; // time spent drawing, and how many draws (read by the benchmark)
    this.draws = 0;
    this.build();
  }

  build() {
    this.kindBox = el("div", { class: "st-filter", "data-testid": "st-kinds" });
    this.nodeBox = el("div", { class: "st-filter", "data-testid": "st-nodes" });
    this.followBox = el("input", { type: "checkbox", checked: true, "data-testid": "st-follow" });
    this.followBox.addEventListener("change", () => {
      this.follow = this.followBox.checked;
      this.dirty = true;
    });
    this.count = el("span", { class: "st-count", "data-testid": "st-count" });
    // A session rebuilt from storage records from there on (docs/protocol.md, `since`).
    this.sinceNote = el("span", { class: "st-since", "data-testid": "st-since", role: "note", hidden: true });
    const zoom = (f) => el("button", { type: "button", text: f < 1 ? "+" : "−", title: f < 1 ? "Zoom in" : "Zoom out", "data-testid": f < 1 ? "st-zoom-in" : "st-zoom-out", onclick: () => this.zoom(f, 0.5) });
    const all = el("button", { type: "button", text: "Whole run", "data-testid": "st-whole", onclick: () => this.showAll() });
    this.toolbar = el("div", { class: "st-toolbar" },
      el("span", { class: "st-label", text: "messages" }), this.kindBox,
      el("span", { class: "st-label", text: "servers" }), this.nodeBox,
      el("span", { class: "st-zoom" }, zoom(0.5), zoom(2), all),
      el("label", { class: "mini-switch" }, this.followBox, " follow"),
      this.sinceNote, this.count);
    this.canvas = el("canvas", { class: "st-canvas", "data-testid": "spacetime-canvas", tabindex: "0", "aria-label": "Space-time diagram: servers as lines, messages as arrows; scroll to move in time, ctrl+scroll or + and − to zoom" });
    this.tip = el("div", { class: "st-tip", hidden: true });
    this.box = el("div", { class: "st-box" }, this.canvas, this.tip);
    this.root.append(this.toolbar, this.box);

    this.canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onUp(e));
    this.canvas.addEventListener("pointerleave", () => { this.tip.hidden = true; });
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    new ResizeObserver(() => { this.dirty = true; }).observe(this.box);
  }

  // ------------------------------------------------------------------ view

  width() { return Math.max(1, this.canvas.clientWidth - LEFT - 8); }
  // x of time t in the frame being drawn: the screen (origin LEFT at this.start), or the
  // cached picture (origin 0 at the cache's first instant); lo..hi is that frame's drawn band.
  x(t) { return this.ox + ((t - this.ot) / this.span) * this.wpx; }
  screen() {
    this.wpx = this.width();
    this.ox = LEFT;
    this.ot = this.start;
    this.lo = LEFT;
    this.hi = this.canvas.clientWidth;
  }

  scroll(ms) {
    this.lastScroll = ms;
    this.follow = false;
    this.followBox.checked = false;
    this.start = Math.max(-this.span * 0.05, this.start + ms);
    this.dirty = true;
  }

  zoom(factor, at) {
    const pivot = this.start + this.span * at;
    this.span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, this.span * factor));
    this.start = Math.max(-this.span * 0.05, pivot - this.span * at);
    this.dirty = true;
  }

  showAll() {
    const end = Math.max(this.snap?.player?.horizon ?? 0, this.snap?.time ?? 0, 100);
    this.follow = false;
    this.followBox.checked = false;
    this.span = Math.min(MAX_SPAN, end * 1.04);
    this.start = -end * 0.02;
    this.dirty = true;
  }

  onWheel(e) {
    e.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    if (e.ctrlKey || e.metaKey) {
      const at = Math.min(1, Math.max(0, (e.clientX - rect.left - LEFT) / this.width()));
      this.zoom(Math.exp(e.deltaY * 0.002), at);
    } else {
      const d = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY;
      this.scroll((d / this.width()) * this.span);
    }
  }

  onKey(e) {
    const step = this.span * 0.1;
    if (e.key === "ArrowLeft") this.scroll(-step);
    else if (e.key === "ArrowRight") this.scroll(step);
    else if (e.key === "+" || e.key === "=") this.zoom(0.5, 0.5);
    else if (e.key === "-") this.zoom(2, 0.5);
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  onDown(e) {
    this.drag = { x: e.clientX, start: this.start, moved: false };
    this.canvas.setPointerCapture(e.pointerId);
  }

  onMove(e) {
    const rect = this.canvas.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const py = e.clientY - rect.top;
    if (this.drag) {
      const dx = e.clientX - this.drag.x;
      if (Math.abs(dx) > 3) this.drag.moved = true;
      if (this.drag.moved) {
        this.follow = false;
        this.followBox.checked = false;
        this.start = this.drag.start - (dx / this.width()) * this.span;
        this.dirty = true;
      }
      return;
    }
    const hit = this.hit(px, py);
    this.canvas.style.cursor = hit ? "pointer" : "grab";
    if (!hit) {
      this.tip.hidden = true;
      return;
    }
    text(this.tip, hit.label);
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(px + 12, this.canvas.clientWidth - 240)}px`;
    this.tip.style.top = `${py + 12}px`;
  }

  onUp(e) {
    const drag = this.drag;
    this.drag = null;
    if (drag?.moved) return;
    const rect = this.canvas.getBoundingClientRect();
    const hit = this.hit(e.clientX - rect.left, e.clientY - rect.top);
    if (hit) this.open(hit);
  }

  /** Jump the lab to what was clicked and show it in the inspector. */
  async open(hit) {
    this.follow = false;
    this.followBox.checked = false;
    await this.ctx.seek(hit.time);
    if (hit.message) this.ctx.select("message", hit.message);
    else if (hit.node && hit.node !== "network") this.ctx.select("node", hit.node);
  }

  hit(screenX, py) {
    const px = screenX;
    let best = null;
    let bestD = HIT_PX;
    for (const m of this.drawn.marks) {
      const d = Math.hypot(m.x - px, m.y - py);
      if (d < bestD) {
        bestD = d;
        best = m;
      }
    }
    if (best) return { ...best, label: this.markLabel(best) };
    const h = this.drawn.arrows;
    let at = -1;
    for (let j = 0; j < h.length; j += 5) {
      const dist = segmentDistance(px, py, h[j], h[j + 1], h[j + 2], h[j + 3]);
      if (dist < bestD) {
        bestD = dist;
        at = j;
      }
    }
    return at >= 0 ? this.arrowAt(at) : null;
  }

  // ------------------------------------------------------------------ data

  /** The window to fetch: the view, with more room on the side it is scrolling towards. */
  want() {
    const back = this.span * (this.lastScroll ? 0.5 : FETCH_MARGIN);
    const ahead = this.span * (this.lastScroll ? 2 * FETCH_MARGIN - 0.5 : FETCH_MARGIN);
    const [before, after] = this.lastScroll < 0 ? [ahead, back] : [back, ahead];
    return { start: Math.max(0, this.start - before), stop: Math.max(0, this.start + this.span + after) };
  }

  needFetch(now) {
    const d = this.data;
    if (!d) return true;
    const view = { start: Math.max(0, this.start), stop: this.start + this.span };
    if (view.start < d.start || view.stop > d.stop) return true;
    // Much wider data than needed (zoomed in a lot) or too coarse (zoomed out): fetch again.
    if ((d.stop - d.start) > this.span * 6 && d.density) return true;
    if ((d.stop - d.start) < this.span * 1.2) return true;
    // The run moved on inside what we show: refresh, but not more often than REFETCH_MS.
    const moved = this.snap && (this.snap.time !== d.now || this.snap.player?.horizon !== d.horizon);
    return Boolean(moved && d.stop >= Math.min(d.now, this.snap.time) && now - this.lastFetch > REFETCH_MS);
  }

  async fetch() {
    if (this.fetching) return;
    this.fetching = true;
    this.fetches = (this.fetches || 0) + 1;
    this.lastFetch = performance.now();
    const w = this.want();
    const ack = await this.ctx.api("spacetime", { start: w.start, stop: w.stop });
    this.fetching = false;
    if (!ack?.ok) return;
    this.data = ack;
    this.fetchSerial += 1;
    const since = ack.since > 0 ? `Recorded from ${ms(ack.since)}: this session was restored from storage there, and the run before it is not recorded.` : "";
    if (since !== this.sinceNote.textContent) {
      text(this.sinceNote, since);
      this.sinceNote.hidden = !since;
    }
    this.buildFilters(ack);
    this.dirty = true;
  }

  buildFilters(d) {
    const kinds = [...new Set(d.kinds)];
    const key = kinds.join(",") + "|" + d.nodes.join(",");
    if (key === this.filterKey) return;
    this.filterKey = key;
    const box = (kind, name, colour) => {
      const input = el("input", { type: "checkbox", checked: !this.hidden[kind].has(name), "data-testid": `st-${kind === "kinds" ? "kind" : "node"}-${name}` });
      input.addEventListener("change", () => {
        if (input.checked) this.hidden[kind].delete(name);
        else this.hidden[kind].add(name);
        this.filterVersion += 1;
        this.dirty = true;
      });
      const swatch = colour ? el("i", { class: "st-swatch", style: `background:${colour}` }) : null;
      return el("label", { class: "st-check" }, input, swatch, ` ${SHORT[name] || name}`);
    };
    this.kindBox.replaceChildren(...kinds.map((k) => box("kinds", k, KIND_COLOUR[k] || "#555")));
    this.nodeBox.replaceChildren(...[...d.nodes, "clients"].map((n) => box("nodes", n, null)));
  }

  // ------------------------------------------------------------------ drawing

  render(snap) {
    this.snap = snap;
    if (!this.visible) return;
    if (this.follow && snap) {
      const now = snap.time;
      if (now < this.start + this.span * 0.05 || now > this.start + this.span * 0.85) {
        this.start = Math.max(-this.span * 0.05, now - this.span * 0.75);
      }
    }
    this.dirty = true;
  }

  /** Called every display frame while shown: fetch if needed, redraw if anything moved. */
  animate(now) {
    if (!this.visible) return;
    if (this.needFetch(now)) this.fetch();
    if (!this.dirty) return;
    this.dirty = false;
    const t0 = performance.now();
    this.draw();
    this.drawMs += performance.now() - t0;
    this.draws += 1;
  }

  lanes(d) {
    const nodes = d.nodes.filter((n) => !this.hidden.nodes.has(n));
    const clients = !this.hidden.nodes.has("clients");
    const names = clients ? ["clients", ...nodes] : nodes;
    const h = this.canvas.clientHeight;
    const gap = Math.max(LANE_MIN, (h - TOP - 14) / Math.max(1, names.length));
    const y = new Map(names.map((n, i) => [n, TOP + gap * (i + 0.5)]));
    return { names, y, gap, clients };
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    this.screen();
    const d = this.data;
    this.drawAxis(g, w);
    if (!d) {
      this.stats = { arrows: 0, dropped: 0, duplicates: 0, inFlight: 0, marks: {}, density: false, covered: false };
      return;
    }
    const lanes = this.lanes(d);
    g.lineWidth = 1;
    for (const name of lanes.names) {
      const y = lanes.y.get(name);
      g.strokeStyle = name === "clients" ? "#c9d1dc" : "#aab3c2";
      g.beginPath();
      g.moveTo(LEFT, y);
      g.lineTo(w - 4, y);
      g.stroke();
    }
    g.save();
    g.beginPath();
    g.rect(LEFT, 0, w - LEFT, h);
    g.clip();
    if (d.density) {
      this.screen();
      this.drawn = { arrows: [], marks: [] };
      const stats = { arrows: 0, dropped: 0, duplicates: 0, inFlight: 0, marks: {}, density: true };
      this.drawIntervals(g, d, lanes, h);
      this.drawDensity(g, d, lanes, h);
      this.lo = LEFT - 90;
      this.drawMarks(g, d, lanes, stats, d.protocol === "paxos" ? "round " : "t", h);
      this.screen();
      this.frameStats = stats;
      const markTotal = Object.values(stats.marks).reduce((a, b) => a + b, 0);
      const count = `${d.total} messages here: zoom in for arrows · ${markTotal} marks`;
      if (count !== this.countText) {
        this.countText = count;
        text(this.count, count);
        attr(this.canvas, "data-arrows", 0);
        attr(this.canvas, "data-marks", markTotal);
      }
    } else this.drawTiles(g, d, lanes, h, dpr);
    if (d.since > 0 && this.start < d.since) this.drawUnrecorded(g, d.since, h);
    g.restore();
    g.fillStyle = "#fff";
    g.fillRect(0, TOP - 2, LEFT - 2, h);
    g.font = "600 12px system-ui, sans-serif";
    g.fillStyle = "#1b2230";
    for (const name of lanes.names) g.fillText(name, 8, lanes.y.get(name) + 4);
    g.font = "11px system-ui, sans-serif";
    if (d.density) {
      g.fillStyle = "#2f5fd0";
      g.fillText(this.densityNote, LEFT + 6, h - 8);
    }
    this.drawCursor(g, h);
    const end = Math.max(d.horizon, d.now);
    this.stats = {
      ...this.frameStats,
      // Whether the data on hand covers the whole view (while scrolling, a window may be late).
      covered: d.start <= Math.max(0, this.start) && d.stop >= Math.min(this.start + this.span, end),
    };
  }

  /**
   * Arrows, marks and shading are drawn once into tiles (a quarter of the view wide each) and
   * kept while the zoom, size, filters and run stay the same, so scrolling costs a few
   * drawImage calls per frame plus, now and then, one new tile; a frame with nothing to build
   * builds the next tile ahead. Only the axis, labels and cursor are drawn on every frame.
   */
  drawTiles(g, d, lanes, h, dpr) {
    const end = Math.max(d.horizon, d.now);
    const key = `${this.span}|${this.wpx}|${h}|${dpr}|${this.filterVersion}|${end}|${d.messages_recorded}|${lanes.names.join()}`;
    if (key !== this.tileKey) {
      this.tiles = new Map();
      this.tileKey = key;
    }
    const tw = this.span / TILES_PER_VIEW;
    const first = Math.floor(this.start / tw);
    const last = Math.floor((this.start + this.span) / tw);
    const covers = (t0, t1) => d.start <= Math.max(0, t0) && d.stop >= Math.min(t1, end);
    let built = 0;
    const get = (i) => {
      const tile = this.tiles.get(i);
      if (tile && (tile.complete || tile.serial === this.fetchSerial)) return tile;
      built += 1;
      const made = this.buildTile(d, lanes, h, dpr, i * tw, (i + 1) * tw, tile?.canvas);
      made.complete = covers(i * tw, (i + 1) * tw);
      this.tiles.set(i, made);
      return made;
    };
    const arrows = [];
    const marks = [];
    const seen = new Set();
    const seenMarks = new Set();
    const stats = { arrows: 0, dropped: 0, duplicates: 0, inFlight: 0, marks: {}, density: false };
    const dropOutcome = d.outcomes.map((o) => DROPS.has(o));
    for (let i = first; i <= last; i += 1) {
      if ((i + 1) * tw < 0) continue;
      const tile = get(i);
      const off = this.x(i * tw);
      g.drawImage(tile.canvas, off, 0, tile.w, h);
      const hits = tile.hits;
      for (let j = 0; j < hits.length; j += 5) {
        const row = hits[j + 4];
        if (seen.has(row)) continue;
        seen.add(row);
        arrows.push(hits[j] + off, hits[j + 1], hits[j + 2] + off, hits[j + 3], row);
        const m = d.messages[row];
        stats.arrows += 1;
        if (dropOutcome[m[6]]) stats.dropped += 1;
        else if (m[5] == null) stats.inFlight += 1;
        if (m[7] & 1) stats.duplicates += 1;
      }
      for (const m of tile.marks) {
        if (seenMarks.has(m.row)) continue;
        seenMarks.add(m.row);
        marks.push({ ...m, x: m.x + off });
        stats.marks[m.kind] = (stats.marks[m.kind] || 0) + 1;
      }
    }
    // Idle frame: draw the next tile in the direction of travel before it is needed.
    if (!built) {
      const ahead = this.lastScroll < 0 ? first - 1 : last + 1;
      if (ahead >= 0 && covers(ahead * tw, (ahead + 1) * tw) && !this.tiles.get(ahead)?.complete) get(ahead);
    }
    for (const i of this.tiles.keys()) if (i < first - 12 || i > last + 12) this.tiles.delete(i);
    this.drawn = { arrows, marks };
    this.frameStats = stats;
    this.screen();
    if (stats.arrows < 300) this.drawLabels(g, d, arrows);
    const markTotal = Object.values(stats.marks).reduce((a, b) => a + b, 0);
    const count = `${stats.arrows} arrows · ${markTotal} marks`;
    if (count !== this.countText) {
      this.countText = count;
      text(this.count, count);
      attr(this.canvas, "data-arrows", stats.arrows);
      attr(this.canvas, "data-marks", markTotal);
    }
  }

  /** One tile: everything between t0 and t1, in its own canvas (origin at t0). */
  buildTile(d, lanes, h, dpr, t0, t1, reuse) {
    const cw = Math.ceil(((t1 - t0) / this.span) * this.wpx) + 1;
    const canvas = reuse || document.createElement("canvas");
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cw, h);
    g.font = "11px system-ui, sans-serif";
    this.ox = 0;
    this.ot = t0;
    this.lo = 0;
    this.hi = cw;
    const stats = { arrows: 0, dropped: 0, duplicates: 0, inFlight: 0, marks: {}, density: false };
    this.drawn = { arrows: [], marks: [] };
    const laneOf = (name) => (lanes.y.has(name) ? name : d.nodes.includes(name) ? null : lanes.clients ? "clients" : null);
    this.drawIntervals(g, d, lanes, h);
    this.drawArrows(g, d, lanes, laneOf, stats, t0, t1);
    this.lo = -90; // a mark just left of the tile still draws its label into it
    this.drawMarks(g, d, lanes, stats, d.protocol === "paxos" ? "round " : "t", h);
    const tile = { canvas, w: cw, hits: this.drawn.arrows, marks: this.drawn.marks, serial: this.fetchSerial, complete: false };
    this.screen();
    return tile;
  }

  /**
   * Every arrow crossing the view, batched: one path per kind and line style, one for the
   * arrowheads of each colour, one for the crosses, so a few thousand arrows cost a few dozen
   * canvas calls. Hit-testing data is kept as numbers; tooltips are written only on hover.
   */
  drawArrows(g, d, lanes, laneOf, stats, left, right) {
    const end = Math.max(d.horizon, d.now);
    const laneY = d.names.map((n) => {
      const lane = laneOf(n);
      return lane ? lanes.y.get(lane) : null;
    });
    const kinds = d.kinds.map((kind) => ({
      kind, hidden: this.hidden.kinds.has(kind), colour: KIND_COLOUR[kind] || "#555",
      reply: REPLY.has(kind), append: kind === "AppendEntries",
    }));
    const dropOutcome = d.outcomes.map((o) => DROPS.has(o));
    const batches = new Map();
    const heads = new Map();
    const crosses = [];
    const hits = [];
    const arrows = d.messages;
    for (let i = 0; i < arrows.length; i += 1) {
      const m = arrows[i];
      const k = kinds[m[1]];
      if (k.hidden) continue;
      const y1 = laneY[m[2]];
      const yTo = laneY[m[3]];
      if (y1 == null || yTo == null) continue;
      const sent = m[4];
      const fin = m[5];
      const stop = fin ?? end;
      if (stop < left || sent > right) continue;
      const dropped = dropOutcome[m[6]];
      const open = fin == null;
      const dup = (m[7] & 1) === 1;
      // A dropped arrow stops short of the receiver's line, where the cross is.
      const y2 = dropped ? y1 + (yTo - y1) * 0.8 : yTo;
      const x1 = this.x(sent);
      const x2 = this.x(stop);
      const style = dup ? 1 : open ? 2 : 0;
      const thick = k.append && m[9] > 0 ? 1 : 0;
      const key = (m[1] * 3 + style) * 2 + thick;
      let batch = batches.get(key);
      if (!batch) {
        batch = { k, style, thick, coords: [] };
        batches.set(key, batch);
      }
      batch.coords.push(x1, y1, x2, y2);
      if (dropped) {
        crosses.push(x2, y2);
        stats.dropped += 1;
      } else if (!open) {
        let list = heads.get(k.colour);
        if (!list) heads.set(k.colour, (list = []));
        list.push(x1, y1, x2, y2);
      } else stats.inFlight += 1;
      if (dup) stats.duplicates += 1;
      stats.arrows += 1;
      hits.push(x1, y1, x2, y2, i);
    }
    for (const b of batches.values()) {
      g.strokeStyle = b.k.colour;
      g.globalAlpha = b.k.reply ? 0.75 : 0.95;
      g.lineWidth = b.thick ? 2 : 1.2;
      g.setLineDash(b.style === 1 ? [5, 3] : b.style === 2 ? [2, 3] : []);
      g.beginPath();
      const c = b.coords;
      for (let j = 0; j < c.length; j += 4) {
        g.moveTo(c[j], c[j + 1]);
        g.lineTo(c[j + 2], c[j + 3]);
      }
      g.stroke();
    }
    g.setLineDash([]);
    g.globalAlpha = 1;
    for (const [colour, c] of heads) {
      g.fillStyle = colour;
      g.beginPath();
      for (let j = 0; j < c.length; j += 4) arrowHead(g, c[j], c[j + 1], c[j + 2], c[j + 3]);
      g.fill();
    }
    if (crosses.length) {
      g.strokeStyle = "#c62828";
      g.lineWidth = 2;
      g.beginPath();
      for (let j = 0; j < crosses.length; j += 2) {
        const x = crosses[j];
        const y = crosses[j + 1];
        g.moveTo(x - 4, y - 4);
        g.lineTo(x + 4, y + 4);
        g.moveTo(x + 4, y - 4);
        g.lineTo(x - 4, y + 4);
      }
      g.stroke();
    }
    this.drawn.arrows = hits;
  }

  /** Kind and term (Paxos: ballot) on arrows long enough, never overlapping another label. */
  drawLabels(g, d, hits) {
    const placed = [];
    for (let j = 0; j < hits.length; j += 5) {
      const [x1, y1, x2, y2] = [hits[j], hits[j + 1], hits[j + 2], hits[j + 3]];
      if (Math.abs(x2 - x1) + Math.abs(y2 - y1) <= 60) continue;
      const m = d.messages[hits[j + 4]];
      const kind = d.kinds[m[1]];
      const ballot = ballotOf(d, m);
      const word = kind.startsWith("Client") ? SHORT[kind] : `${SHORT[kind] || kind} ${ballot ?? `t${m[8]}`}`;
      const lx = (x1 + x2) / 2 + 3;
      const ly = (y1 + y2) / 2 - 3;
      const lw = g.measureText(word).width;
      const clash = placed.some((b) => lx < b.x + b.w && b.x < lx + lw && Math.abs(ly - b.y) < 11);
      if (!clash && lx > this.lo && lx < this.hi) {
        placed.push({ x: lx, y: ly, w: lw });
        g.fillStyle = KIND_COLOUR[kind] || "#555";
        g.fillText(word, lx, ly);
      }
    }
  }

  markLabel(m) {
    const style = MARK_STYLE[m.kind] || { label: m.kind };
    const round = this.data?.protocol === "paxos" ? "ballot round" : "term";
    const what = m.node === "network" ? style.label
      : m.kind === "commit" ? `${m.node} commit index ${m.value}`
        : `${m.node} ${style.label}${m.term ? ` (${round} ${m.term})` : ""}`;
    return `${what} at ${ms(m.time)} · click to jump here`;
  }

  /** The arrow drawn at hits[j..j+4], as an object (for hover, click and tests). */
  arrowAt(j) {
    const d = this.data;
    const h = this.drawn.arrows;
    const m = d.messages[h[j + 4]];
    const [id, k, s, t, sent, fin, outcome, flags, term] = m;
    const kind = d.kinds[k];
    const ballot = ballotOf(d, m);
    const dup = (flags & 1) === 1;
    const what = `${kind} m${id} ${d.names[s]}→${d.names[t]} · ${ballot ? `ballot ${ballot}` : `term ${term}`} · sent ${ms(sent)}, ${fin == null ? "in flight" : `${d.outcomes[outcome]} at ${ms(fin)}`}${dup ? " · duplicate copy" : ""}`;
    return {
      x1: h[j], y1: h[j + 1], x2: h[j + 2], y2: h[j + 3], message: id, time: sent, node: d.names[s],
      kind, ballot, label: `${what} · click to jump here`,
    };
  }

  /** Grey out the time before the record starts, with words (not colour alone). */
  drawUnrecorded(g, since, h) {
    const right = this.x(since);
    const left = Math.max(LEFT, this.x(0));
    if (right <= left) return;
    g.fillStyle = "rgba(90, 100, 120, 0.16)";
    g.fillRect(left, TOP, right - left, h - TOP);
    g.strokeStyle = "#5a6478";
    g.setLineDash([4, 3]);
    g.beginPath();
    g.moveTo(right, TOP);
    g.lineTo(right, h);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = "#3b4456";
    const label = "not recorded (before the restore)";
    if (right - left > g.measureText(label).width + 12) g.fillText(label, right - g.measureText(label).width - 6, TOP + 24);
  }

  drawAxis(g, w) {
    const step = niceStep(this.span / Math.max(1, this.width() / 110));
    const first = Math.ceil(this.start / step) * step;
    g.fillStyle = "#5a6476";
    g.strokeStyle = "#e3e7ee";
    g.lineWidth = 1;
    for (let t = first; t <= this.start + this.span; t += step) {
      const x = this.x(t);
      g.beginPath();
      g.moveTo(x, TOP - 6);
      g.lineTo(x, this.canvas.clientHeight);
      g.stroke();
      g.fillText(ms(t), x + 2, 12);
    }
    g.fillStyle = "#fff";
    g.fillRect(0, 0, LEFT - 2, this.canvas.clientHeight);
  }

  /** Shade partitions across every line, and crashed or paused stretches on a server's line. */
  drawIntervals(g, d, lanes, h) {
    const kinds = d.mark_kinds;
    const open = new Map();
    const spans = [];
    for (const [, time, node, kind] of d.marks) {
      const name = d.names[node];
      const k = kinds[kind];
      if (k === "partition" || k === "crash" || k === "pause") open.set(`${k}:${name}`, { k, name, from: time });
      const close = { heal: "partition", restart: "crash", resume: "pause" }[k];
      if (close) {
        const key = `${close}:${name}`;
        const from = open.get(key)?.from ?? d.start;
        spans.push({ k: close, name, from, to: time });
        open.delete(key);
      }
    }
    const end = Math.max(d.horizon, d.now);
    for (const s of open.values()) spans.push({ ...s, to: end });
    for (const s of spans) {
      const x1 = Math.max(this.lo, this.x(s.from));
      const x2 = Math.min(this.hi, this.x(s.to));
      if (x2 <= x1) continue;
      const labelled = this.x(s.from) >= this.lo; // the label goes where the stretch begins
      if (s.k === "partition") {
        g.fillStyle = "rgba(198, 40, 40, 0.07)";
        g.fillRect(x1, TOP, x2 - x1, h - TOP);
        g.fillStyle = "#c62828";
        if (labelled) g.fillText("partitioned", x1 + 4, TOP + 10);
      } else if (lanes.y.has(s.name)) {
        const y = lanes.y.get(s.name);
        g.fillStyle = s.k === "crash" ? "rgba(17, 24, 39, 0.16)" : "rgba(107, 63, 212, 0.16)";
        g.fillRect(x1, y - 7, x2 - x1, 14);
        g.fillStyle = s.k === "crash" ? "#111827" : "#6b3fd4";
        if (labelled) g.fillText(s.k === "crash" ? "down" : "paused", x1 + 4, y - 9);
      }
    }
  }

  drawDensity(g, d, lanes, h) {
    const { counts, bins } = d.density;
    const max = Math.max(1, ...counts);
    const width = (d.stop - d.start) / bins;
    const base = h - 4;
    g.fillStyle = "rgba(47, 95, 208, 0.28)";
    for (let i = 0; i < bins; i += 1) {
      const x1 = this.x(d.start + i * width);
      const x2 = this.x(d.start + (i + 1) * width);
      if (x2 < this.lo || x1 > this.hi) continue;
      const hgt = (counts[i] / max) * (base - TOP) * 0.9;
      g.fillRect(Math.max(this.lo, x1), base - hgt, Math.max(1, x2 - x1 - 0.5), hgt);
    }
    g.fillStyle = "#2f5fd0";
    this.densityNote = `messages sent per ${ms(width)} (zoom in to see each arrow)`;
  }

  drawMarks(g, d, lanes, stats, termWord, h) {
    const kinds = d.mark_kinds;
    const commits = d.marks.length < 1500;
    for (const [row, time, node, kind, term, value] of d.marks) {
      const k = kinds[kind];
      const name = d.names[node];
      const x = this.x(time);
      if (x < this.lo - 2 || x > this.hi + 8) continue;
      const style = MARK_STYLE[k] || { colour: "#555", label: k };
      if (name === "network") {
        g.strokeStyle = style.colour;
        g.lineWidth = 1.5;
        g.setLineDash([4, 3]);
        g.beginPath();
        g.moveTo(x, TOP);
        g.lineTo(x, h);
        g.stroke();
        g.setLineDash([]);
        g.fillStyle = style.colour;
        g.fillText(style.label, x + 3, h - 6);
        this.drawn.marks.push({ x, y: TOP + 4, time, node: name, kind: k, term, value, row });
        stats.marks[k] = (stats.marks[k] || 0) + 1;
        continue;
      }
      if (this.hidden.nodes.has(name) || !lanes.y.has(name)) continue;
      if (k === "commit" && !commits) continue;
      const y = lanes.y.get(name);
      markGlyph(g, k, x, y, style.colour, `${termWord}${term}`);
      this.drawn.marks.push({ x, y, time, node: name, kind: k, term, value, row });
      stats.marks[k] = (stats.marks[k] || 0) + 1;
    }
  }

  drawCursor(g, h) {
    const now = this.snap?.time;
    if (now == null) return;
    const x = this.x(now);
    if (x < LEFT || x > this.canvas.clientWidth) return;
    g.strokeStyle = "#c62828";
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(x, TOP - 8);
    g.lineTo(x, h);
    g.stroke();
    g.fillStyle = "#c62828";
    g.font = "700 11px system-ui, sans-serif";
    const label = `now ${ms(now)}`;
    const right = x + 3 + g.measureText(label).width > this.canvas.clientWidth;
    g.fillText(label, right ? x - 3 - g.measureText(label).width : x + 3, TOP + 6);
    g.font = "11px system-ui, sans-serif";
  }
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Adds one arrowhead to the current path (the caller fills them all at once). */
function arrowHead(g, x1, y1, x2, y2) {
  const a = Math.atan2(y2 - y1, x2 - x1);
  g.moveTo(x2, y2);
  g.lineTo(x2 - 7 * Math.cos(a - 0.4), y2 - 7 * Math.sin(a - 0.4));
  g.lineTo(x2 - 7 * Math.cos(a + 0.4), y2 - 7 * Math.sin(a + 0.4));
  g.closePath();
}

function ballotOf(d, m) {
  return m[10] ? `${m[8]}.${d.names[m[10] - 1]}` : null;
}

/** Shapes, not colour alone: ◆ election, ▲ leader, ✕ crash, ‖ pause, ▮ commit. */
function markGlyph(g, kind, x, y, colour, term) {
  g.fillStyle = colour;
  g.strokeStyle = colour;
  g.lineWidth = 2;
  g.beginPath();
  switch (kind) {
    case "candidate":
    case "pre_candidate":
      g.moveTo(x, y - 7); g.lineTo(x + 6, y); g.lineTo(x, y + 7); g.lineTo(x - 6, y); g.closePath();
      if (kind === "candidate") g.fill(); else g.stroke();
      g.fillText(term, x + 7, y - 8);
      break;
    case "leader":
      g.moveTo(x, y - 9); g.lineTo(x + 7, y + 4); g.lineTo(x - 7, y + 4); g.closePath(); g.fill();
      g.font = "700 11px system-ui, sans-serif";
      g.fillText(`leader ${term}`, x + 8, y - 8);
      g.font = "11px system-ui, sans-serif";
      break;
    case "follower":
      g.arc(x, y, 3.5, 0, Math.PI * 2); g.stroke();
      break;
    case "crash":
      g.lineWidth = 3;
      g.moveTo(x - 7, y - 7); g.lineTo(x + 7, y + 7); g.moveTo(x + 7, y - 7); g.lineTo(x - 7, y + 7); g.stroke();
      break;
    case "restart":
      g.moveTo(x - 6, y + 6); g.lineTo(x, y - 7); g.lineTo(x + 6, y + 6); g.stroke();
      break;
    case "pause":
    case "resume":
      g.fillRect(x - 5, y - 7, 3, 14);
      if (kind === "pause") g.fillRect(x + 2, y - 7, 3, 14);
      break;
    case "commit":
      g.fillRect(x - 1.5, y + 3, 3, 8);
      break;
    default:
      g.arc(x, y, 4, 0, Math.PI * 2); g.fill();
  }
}

function segmentDistance(px, py, x1, y1, x2, y2) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len)) : 0;
  return Math.hypot(px - (x1 + t * dx), py - (y1 + t * dy));
}

let view = null;

/** ctx: api(event, payload) -> ack, seek(time) -> promise, select(type, id). */
export function mount(root, ctx) {
  view = new SpaceTime(root, ctx);
  return view;
}

export function show(on) {
  if (!view) return;
  view.visible = on;
  view.dirty = true;
  if (on) view.render(view.snap);
}

export function render(snapshot) {
  view?.render(snapshot);
}

export function animate(now) {
  view?.animate(now);
}

/** What the last draw put on screen, with where (for tests and the benchmark). */
export function drawn() {
  if (!view) return null;
  const strip = ({ label, ...rest }) => rest;
  return {
    ...view.stats,
    view: { start: view.start, span: view.span },
    data: view.data && { start: view.data.start, stop: view.data.stop, total: view.data.total },
    marks: view.drawn.marks,
    arrows: Array.from({ length: view.drawn.arrows.length / 5 }, (_, i) => strip(view.arrowAt(i * 5))),
    markCounts: view.stats.marks,
  };
}

/** Counts of the last draw without positions: cheap enough to read every frame. */
export function stats() {
  return view ? {
    ...view.stats, fetches: view.fetches, span: view.span, start: view.start,
    drawMs: view.drawMs, draws: view.draws,
  } : null;
}
