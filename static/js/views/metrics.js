// Live metrics as small hand-drawn SVG charts, built from the frames this page received
// (store.samples). Each chart shows its current value in words next to the line.

import { attr, el, keyed, svg, text } from "../dom.js";
import { byNodeId, ms } from "../format.js";

const W = 300;
const H = 40;
const MAX_POINTS = 300;
const DASHES = ["", "5 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2", "6 6"];

const CHARTS = [
  { key: "elections", label: "elections started", value: (s) => s.elections },
  { key: "leader_changes", label: "leader changes", value: (s) => s.leader_changes },
  { key: "no_leader_ms", label: "time without a leader", value: (s) => s.no_leader_ms, fmt: ms },
  { key: "sent", label: "messages sent", value: (s) => s.sent },
  { key: "dropped", label: "messages dropped", value: (s) => s.dropped },
  { key: "in_flight", label: "messages in flight", value: (s) => s.in_flight },
];

function thin(samples) {
  if (samples.length <= MAX_POINTS) return samples;
  const step = samples.length / MAX_POINTS;
  const out = [];
  for (let i = 0; i < MAX_POINTS; i++) out.push(samples[Math.floor(i * step)]);
  out.push(samples[samples.length - 1]);
  return out;
}

function points(samples, value, t0, t1, vmax) {
  const span = Math.max(t1 - t0, 1);
  return samples.map((s) => `${(((s.t - t0) / span) * W).toFixed(1)},${(H - 2 - (value(s) / vmax) * (H - 4)).toFixed(1)}`).join(" ");
}

class MetricsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.list = el("div", { class: "metrics" });
    this.range = el("p", { class: "hint" });
    root.append(el("h2", { class: "pane-title", text: "Metrics (from the frames this page saw)" }), this.list, this.range);
    this.charts = CHARTS.map((c) => this.chart(c.key, c.label));
    this.lag = this.chart("lag", "replication lag per follower (entries)");
    this.lag.lines = svg("g");
    this.lag.svg.append(this.lag.lines);
  }

  chart(key, label) {
    const line = svg("polyline", { class: "spark-line", "vector-effect": "non-scaling-stroke" });
    const area = svg("polygon", { class: "spark-area" });
    const s = svg("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" }, area, line);
    const value = el("span", { class: "metric-value", "data-testid": `metric-${key}` });
    const box = el("div", { class: "metric" }, el("div", { class: "metric-head" }, el("span", { class: "metric-label", text: label }), value), s);
    this.list.append(box);
    return { line, area, svg: s, value };
  }

  render() {
    const all = this.ctx.samples();
    if (!all.length) return;
    const samples = thin(all);
    const last = all[all.length - 1];
    const t0 = samples[0].t;
    const t1 = last.t;
    CHARTS.forEach((c, i) => {
      const ch = this.charts[i];
      const vmax = Math.max(1, ...samples.map(c.value));
      const pts = points(samples, c.value, t0, t1, vmax);
      attr(ch.line, "points", pts);
      attr(ch.area, "points", `0,${H} ${pts} ${W},${H}`);
      text(ch.value, c.fmt ? c.fmt(c.value(last)) : c.value(last));
    });
    const followers = [...new Set(samples.flatMap((s) => Object.keys(s.lag)))].sort(byNodeId);
    const vmax = Math.max(1, ...samples.flatMap((s) => Object.values(s.lag)));
    keyed(this.lag.lines, followers, (f) => f, (f) => svg("polyline", { class: "spark-line lag-line", "vector-effect": "non-scaling-stroke" }), (line, f) => {
      const i = followers.indexOf(f);
      attr(line, "stroke-dasharray", DASHES[i % DASHES.length]);
      attr(line, "class", `spark-line lag-line lag-${i % 4}`);
      attr(line, "points", points(samples.filter((s) => f in s.lag), (s) => s.lag[f], t0, t1, vmax));
    });
    const now = Object.entries(last.lag).sort(([a], [b]) => byNodeId(a, b));
    text(this.lag.value, now.length ? now.map(([f, v]) => `${f} ${v}`).join(" · ") : "no leader");
    text(this.range, `Window: ${ms(t0)} – ${ms(t1)} of simulated time.`);
  }
}

const views = new WeakMap();

/** ctx: samples() returns the store's metric samples. */
export function mount(root, ctx) {
  views.set(root, new MetricsView(root, ctx));
}

export function render(root) {
  views.get(root)?.render();
}
