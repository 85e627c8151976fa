// The history of client operations (the view porcupine made familiar): per key, one lane per
// client, each operation a bar from its call to its return (open-ended when the outcome is
// unknown or it is still running), with leader changes, partitions, crashes and pauses marked
// across all lanes. When the linearizability checker flags a violation, the panel on top shows
// the server's explanation: the smallest set of operations that cannot be ordered (outlined),
// the order it tried, one plain sentence, and a button that jumps the lab to that moment.
// Every fact comes from the server (the `ophistory` event); this module only draws.

import { attr, el, svg, text } from "../dom.js";
import { ms } from "../format.js";

const REFRESH_MS = 500;
const LANE_MIN = 26;
const LANE_MAX = 46;
const KEY_GAP = 22;
const LEFT = 74;
const AXIS = 20;

function opText(o) {
  switch (o.op) {
    case "set": return `SET ${o.value}`;
    case "get": return o.status === "ok" || o.complete != null ? `GET → ${o.result ?? "∅"}` : "GET";
    case "delete": return "DEL";
    case "cas": return `CAS ${o.expected ?? "∅"}→${o.value}${o.ok === false ? " ✗" : ""}`;
    default: return o.op;
  }
}

class OpHistory {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.visible = false;
    this.data = null;
    this.lastFetch = 0;
    this.fetching = false;
    this.fetchedAt = null;
    this.range = "auto"; // "auto": the violation if any, else the last 5 s; "all"
    this.violation = 0;
    this.head = el("div", { class: "oh-head" });
    this.why = el("div", { class: "oh-why", "data-testid": "oh-violation", hidden: true });
    this.svg = svg("svg", { class: "oh-svg", "data-testid": "ophistory-svg", role: "img", "aria-label": "Client operations per key and client over time" });
    this.box = el("div", { class: "oh-box" }, this.svg);
    const rangeBtn = (value, label) => el("button", {
      type: "button", text: label, "data-testid": `oh-range-${value}`,
      onclick: () => { this.range = value; this.draw(); },
    });
    this.summary = el("span", { class: "oh-summary", "data-testid": "oh-summary" });
    this.head.append(el("span", { class: "st-label", text: "show" }), rangeBtn("auto", "Recent / violation"), rangeBtn("all", "All kept"), this.summary);
    root.append(this.head, this.why, this.box);
    new ResizeObserver(() => this.draw()).observe(this.box);
  }

  render(snap) {
    this.snap = snap;
    if (!this.visible || !snap) return;
    const now = performance.now();
    if (this.fetching || (this.fetchedAt === snap.time && this.data)) return;
    if (now - this.lastFetch < REFRESH_MS && this.data) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.render(this.snap), REFRESH_MS);
      return;
    }
    this.fetch(snap.time);
  }

  async fetch(time) {
    this.fetching = true;
    this.lastFetch = performance.now();
    const ack = await this.ctx.api("ophistory", {});
    this.fetching = false;
    if (!ack?.ok) return;
    this.data = ack;
    this.fetchedAt = time;
    this.draw();
    if (this.snap && this.snap.time !== time) this.render(this.snap);
  }

  window(d) {
    const ops = d.ops;
    const v = d.violations[this.violation];
    const end = d.now;
    if (this.range === "auto" && v) {
      const core = v.core;
      const from = Math.min(...core.map((o) => o.invoke));
      const to = Math.max(...core.map((o) => o.complete ?? end));
      const pad = Math.max(20, (to - from) * 0.15);
      return [Math.max(0, from - pad), to + pad];
    }
    if (!ops.length) return [Math.max(0, end - 1000), end];
    const first = Math.min(...ops.map((o) => o.invoke));
    if (this.range === "all") return [first, end];
    return [Math.max(first, end - 5000), end];
  }

  drawWhy(d) {
    const v = d.violations[this.violation];
    this.why.hidden = !v;
    if (!v) return;
    const core = new Map(v.core.map((o) => [o.op_id, o]));
    const order = v.tried.map((id) => {
      const o = core.get(id);
      const who = o ? `${o.client} ${opText({ ...o, status: o.complete != null ? "ok" : "unknown" })}` : `#${id}`;
      return el("li", { class: id === v.fails ? "oh-fails" : "", text: `${id === v.fails ? "✗ " : ""}#${id} ${who}${id === v.fails ? " (no order gives this answer)" : ""}` });
    });
    const pick = d.violations.length > 1
      ? el("span", { class: "oh-pick" }, ...d.violations.map((x, i) => el("button", {
        type: "button", text: `${i + 1}`, "aria-pressed": i === this.violation ? "true" : "false",
        onclick: () => { this.violation = i; this.draw(); },
      })))
      : null;
    this.why.replaceChildren(
      el("h3", { text: `Not linearizable on key ${v.key}${v.certain ? "" : " (possibly a false alarm: a checker limit was hit)"}` }),
      el("p", { class: "oh-sentence", "data-testid": "oh-sentence", text: v.sentence }),
      el("p", { class: "hint", text: `Smallest set of operations that cannot be ordered: ${v.core.map((o) => `#${o.op_id}`).join(", ")} (outlined below). The order tried, each operation at its answer:` }),
      el("ol", { class: "oh-tried", "data-testid": "oh-tried" }, ...order),
      el("div", { class: "oh-actions" },
        el("button", { type: "button", class: "btn-primary", "data-testid": "oh-jump", text: `Jump to ${ms(v.at)} in the lab`, onclick: () => this.ctx.seek(v.at) }),
        pick),
      el("details", {}, el("summary", { text: "The checker's full explanation" }), el("p", { text: v.explanation })));
  }

  draw() {
    const d = this.data;
    if (!d || !this.visible) return;
    this.drawWhy(d);
    const v = d.violations[this.violation];
    const coreIds = new Set(v ? v.core.map((o) => o.op_id) : []);
    // Ops of the core may have left the kept window; draw them from the explanation then.
    const ops = [...d.ops];
    const have = new Set(ops.map((o) => o.op_id));
    if (v) for (const o of v.core) if (!have.has(o.op_id)) ops.push({ ...o, status: o.complete != null ? "ok" : "unknown" });
    const [from, to] = this.window(d);
    const width = Math.max(200, this.box.clientWidth - 8);
    const x = (t) => LEFT + ((t - from) / Math.max(1e-6, to - from)) * (width - LEFT - 12);
    const inView = ops.filter((o) => (o.complete ?? d.now) >= from && o.invoke <= to);
    const keys = [...new Set(inView.map((o) => o.key))].sort();
    const laneCount = keys.reduce((n, key) => n + new Set(inView.filter((o) => o.key === key).map((o) => o.client)).size, 0);
    const room = this.box.clientHeight - AXIS - 40 - keys.length * KEY_GAP;
    const LANE_H = Math.round(Math.min(LANE_MAX, Math.max(LANE_MIN, room / Math.max(1, laneCount))));
    const rows = [];
    let y = AXIS + 6;
    const laneY = new Map();
    for (const key of keys) {
      rows.push({ type: "key", key, y });
      y += 16;
      const clients = [...new Set(inView.filter((o) => o.key === key).map((o) => o.client))].sort();
      for (const c of clients) {
        laneY.set(`${key}|${c}`, y);
        rows.push({ type: "lane", key, client: c, y });
        y += LANE_H;
      }
      y += KEY_GAP - 16;
    }
    const height = Math.max(y + 40, 120); // room under the lanes for the marks' labels
    attr(this.svg, "viewBox", `0 0 ${width} ${height}`);
    attr(this.svg, "width", width);
    attr(this.svg, "height", height);
    const parts = [];
    // time axis
    const step = niceStep((to - from) / Math.max(1, (width - LEFT) / 110));
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
      parts.push(svg("line", { class: "oh-grid", x1: x(t), x2: x(t), y1: AXIS - 4, y2: height }));
      parts.push(svg("text", { class: "oh-axis", x: x(t) + 2, y: 12, text: ms(t) }));
    }
    // marks across every lane: partitions shaded, the rest as lines
    const openP = [];
    let marks = 0;
    for (const m of d.marks) {
      if (m.kind === "partition") openP.push(m.time);
      if (m.kind === "heal" && openP.length) parts.push(band(x, openP.pop(), m.time, from, to, height));
    }
    for (const t of openP) parts.push(band(x, t, d.now, from, to, height));
    const labelEnds = [-Infinity, -Infinity, -Infinity]; // labels of close marks take turns in rows
    for (const m of d.marks) {
      if (m.time < from || m.time > to) continue;
      marks += 1;
      const label = (m.kind === "leader" ? `▲ ${m.node} leads t${m.term}` : m.network ? m.kind : `${m.kind === "crash" ? "✕ " : ""}${m.node} ${m.kind}`);
      const mx = x(m.time);
      let row = labelEnds.findIndex((end) => end < mx);
      if (row < 0) row = labelEnds.indexOf(Math.min(...labelEnds));
      labelEnds[row] = mx + label.length * 6 + 6;
      parts.push(svg("g", { class: `oh-mark oh-mark-${m.kind}`, "data-testid": "oh-mark", "data-kind": m.kind },
        svg("title", { text: `${label} at ${ms(m.time)}` }),
        svg("line", { x1: mx, x2: mx, y1: AXIS - 2, y2: height }),
        svg("text", { x: mx + 3, y: height - 4 - row * 12, text: label })));
    }
    for (const r of rows) {
      if (r.type === "key") parts.push(svg("text", { class: "oh-key", x: 4, y: r.y + 11, text: `key ${r.key}` }));
      else {
        parts.push(svg("line", { class: "oh-lane", x1: LEFT, x2: width - 4, y1: r.y + LANE_H / 2, y2: r.y + LANE_H / 2 }));
        parts.push(svg("text", { class: "oh-client", x: 14, y: r.y + LANE_H / 2 + 4, text: r.client }));
      }
    }
    let bars = 0;
    for (const o of inView) {
      const ly = laneY.get(`${o.key}|${o.client}`);
      if (ly == null) continue;
      const open = o.complete == null;
      const x1 = Math.max(LEFT, x(o.invoke));
      const x2 = open ? x(to) : Math.max(x1 + 3, x(o.complete));
      const cls = ["oh-bar", `oh-${o.status}`, `oh-op-${o.op}`, coreIds.has(o.op_id) ? "oh-core" : "", v && o.op_id === v.fails ? "oh-fails" : "", open ? "oh-open" : ""].join(" ");
      const what = `#${o.op_id} ${o.client} ${opText(o)} · ${ms(o.invoke)} → ${open ? (o.status === "pending" ? "still running" : "outcome unknown") : ms(o.complete)}${o.node ? ` · answered by ${o.node}` : ""}${o.read_mode && o.op === "get" ? ` · ${o.read_mode} read` : ""}`;
      const g = svg("g", { class: cls, "data-testid": "oh-bar", "data-op": o.op_id, "data-open": open ? "true" : "false" },
        svg("title", { text: `${what} · click to jump to its call` }),
        svg("rect", { x: x1, y: ly + 4, width: Math.max(3, x2 - x1), height: LANE_H - 8, rx: 3 }),
        open ? svg("path", { class: "oh-openend", d: `M${x2 - 6} ${ly + 6} L${x2} ${ly + LANE_H / 2} L${x2 - 6} ${ly + LANE_H - 6}` }) : null,
        svg("text", { class: x2 - x1 > 44 ? "" : "oh-beside", x: x2 - x1 > 44 ? x1 + 4 : x2 + 4, y: ly + LANE_H / 2 + 4, text: opText(o) }));
      g.addEventListener("click", () => this.ctx.seek(o.invoke));
      parts.push(g);
      bars += 1;
    }
    const now = x(d.now);
    if (now >= LEFT && now <= width) parts.push(svg("line", { class: "oh-now", x1: now, x2: now, y1: AXIS - 6, y2: height }));
    this.svg.replaceChildren(...parts);
    attr(this.svg, "data-bars", bars);
    attr(this.svg, "data-marks", marks);
    const kept = d.kept ? ` (the last ${d.kept} finished operations are kept)` : "";
    text(this.summary, `${bars} operations on ${keys.length} key${keys.length === 1 ? "" : "s"} between ${ms(from)} and ${ms(to)}${kept} · ${d.violation_count ? `${d.violation_count} violation${d.violation_count === 1 ? "" : "s"}` : "linearizable so far"}`);
    if (!keys.length) this.svg.append(svg("text", { class: "oh-empty", x: LEFT, y: AXIS + 30, text: "No client operations yet: write or read from a server, or turn on the client load." }));
  }
}

function band(x, t1, t2, from, to, height) {
  const a = x(Math.max(from, t1));
  const b = x(Math.min(to, t2));
  return svg("g", { class: "oh-partition" },
    svg("rect", { x: a, y: AXIS - 2, width: Math.max(0, b - a), height: height - AXIS }),
    svg("text", { x: a + 3, y: AXIS + 8, text: "partitioned" }));
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

let view = null;

/** ctx: api(event, payload) -> ack, seek(time). */
export function mount(root, ctx) {
  view = new OpHistory(root, ctx);
}

export function show(on) {
  if (!view) return;
  view.visible = on;
  if (on) {
    view.fetchedAt = null;
    view.render(view.snap);
  }
}

export function render(snapshot) {
  view?.render(snapshot);
}
