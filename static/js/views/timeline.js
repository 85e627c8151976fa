// The timeline: transport buttons, speed (log scale, 1/1000× to 1×) and a scrubber over the
// whole recorded history with markers for elections, faults, network changes and violations.

import { attr, byId, svg, text } from "../dom.js";
import { ms, speed as fmtSpeed } from "../format.js";

const MARK_KINDS = {
  election: { cls: "mk-election", label: "election" },
  leader: { cls: "mk-leader", label: "new leader" },
  step_down: { cls: "mk-step", label: "step down" },
  fault: { cls: "mk-fault", label: "fault" },
  network: { cls: "mk-network", label: "network" },
  violation: { cls: "mk-violation", label: "VIOLATION" },
  command: { cls: "mk-command", label: "you" },
  settings: { cls: "mk-settings", label: "settings" },
};

const SEEK_EVERY_MS = 120;

class Timeline {
  constructor(ctx) {
    this.ctx = ctx;
    this.play = byId("btn-play");
    this.scrub = byId("scrub");
    this.marks = byId("tl-marks");
    this.speed = byId("speed");
    this.speedOut = byId("speed-out");
    this.nowOut = byId("tl-now");
    this.horizonOut = byId("tl-horizon");
    this.scrubbing = false;
    this.speeding = false;
    this.marksKey = "";
    this.seekBusy = false;
    this.seekPending = null;
    this.width = 0;
    this.snap = null;

    this.play.addEventListener("click", () => ctx.togglePlay());
    byId("btn-step").addEventListener("click", () => ctx.player("step"));
    byId("btn-10").addEventListener("click", () => ctx.player("advance", { ms: 10 }));
    byId("btn-100").addEventListener("click", () => ctx.player("advance", { ms: 100 }));
    byId("btn-1000").addEventListener("click", () => ctx.player("advance", { ms: 1000 }));
    const until = byId("run-until");
    until.addEventListener("change", () => {
      const condition = until.value;
      until.value = "";
      if (condition) ctx.player("run_until", { condition, max_ms: 10000 });
    });

    this.scrub.addEventListener("pointerdown", () => { this.scrubbing = true; });
    this.scrub.addEventListener("input", () => {
      this.scrubbing = true;
      text(this.nowOut, ms(Number(this.scrub.value)));
      this.requestSeek(Number(this.scrub.value));
    });
    this.scrub.addEventListener("change", () => {
      this.requestSeek(Number(this.scrub.value));
      this.scrubbing = false;
    });
    const done = () => { this.scrubbing = false; };
    this.scrub.addEventListener("pointerup", done);
    this.scrub.addEventListener("blur", done);

    this.speed.addEventListener("input", () => {
      this.speeding = true;
      const s = this.sliderSpeed();
      text(this.speedOut, fmtSpeed(s));
      this.sendSpeed(s);
    });
    this.speed.addEventListener("change", () => { this.speeding = false; });
    new ResizeObserver(() => {
      this.width = this.marks.getBoundingClientRect().width;
      this.marksKey = "";
      if (this.snap) this.drawMarks(this.snap);
    }).observe(this.marks);
  }

  sliderSpeed() {
    return Math.min(1, Math.max(0.001, 10 ** Number(this.speed.value)));
  }

  sendSpeed(s) {
    clearTimeout(this.speedTimer);
    this.speedTimer = setTimeout(() => this.ctx.player("speed", { speed: Number(s.toPrecision(3)) }), 80);
  }

  /** Seek at most every SEEK_EVERY_MS while dragging; always end at the last position. */
  requestSeek(time) {
    this.seekPending = time;
    if (this.seekBusy) return;
    const run = async () => {
      this.seekBusy = true;
      while (this.seekPending !== null) {
        const t = this.seekPending;
        this.seekPending = null;
        await this.ctx.player("seek", { time: t });
        await new Promise((r) => setTimeout(r, SEEK_EVERY_MS));
      }
      this.seekBusy = false;
    };
    run();
  }

  render(snap) {
    this.snap = snap;
    const p = snap.player || {};
    const playing = Boolean(p.playing);
    text(this.play, playing ? "❚❚" : "▶");
    attr(this.play, "aria-label", playing ? "Pause" : "Play");
    attr(this.play, "data-playing", playing ? "true" : "false");
    this.play.classList.toggle("is-playing", playing);
    const horizon = Math.max(p.horizon ?? snap.time, snap.time, 1);
    const now = p.now ?? snap.time;
    this.scrub.max = String(Math.ceil(horizon));
    if (!this.scrubbing) {
      this.scrub.value = String(Math.round(now));
      text(this.nowOut, ms(now));
    }
    attr(this.nowOut, "data-time", now);
    text(this.horizonOut, ms(horizon));
    if (!this.speeding && p.speed) {
      const v = Math.log10(p.speed);
      if (Math.abs(Number(this.speed.value) - v) > 0.005) this.speed.value = String(v);
      text(this.speedOut, fmtSpeed(p.speed));
    }
    this.drawMarks(snap);
  }

  drawMarks(snap) {
    const ms_ = snap.milestones || [];
    const horizon = Math.max(snap.player?.horizon ?? snap.time, snap.time, 1);
    const w = this.width || this.marks.getBoundingClientRect().width;
    const key = `${ms_.length}:${ms_.length ? ms_[ms_.length - 1].seq : 0}:${Math.round(horizon)}:${Math.round(w)}`;
    if (key === this.marksKey || !w) return;
    // While playing, the horizon grows every frame; moving hundreds of markers 20 times a
    // second is wasted work, so redraw at most a few times a second unless something jumped.
    const now = performance.now();
    const shape = `${Math.round(w)}:${ms_.length ? ms_[0].seq : 0}`;
    const grew = this.marksShape === shape && ms_.length >= (this.marksCount || 0) && horizon >= (this.marksHorizon || 0);
    clearTimeout(this.marksTimer);
    if (grew && now - (this.marksAt || 0) < 400) {
      // Draw the latest state soon even if no other frame comes (the player paused).
      this.marksTimer = setTimeout(() => this.drawMarks(this.snap), 420);
      return;
    }
    this.marksShape = shape;
    this.marksCount = ms_.length;
    this.marksHorizon = horizon;
    this.marksAt = now;
    this.marksKey = key;
    const h = 18;
    attr(this.marks, "viewBox", `0 0 ${w} ${h}`);
    const nodes = [];
    let lastX = -10;
    let lastKind = "";
    for (const m of ms_) {
      const kind = MARK_KINDS[m.kind] || { cls: "mk-other", label: m.kind };
      const x = 8 + (m.time / horizon) * (w - 16);
      if (m.kind !== "violation" && m.kind === lastKind && x - lastX < 3) continue;
      lastX = x;
      lastKind = m.kind;
      let shape;
      if (m.kind === "violation") shape = svg("path", { d: `M${x},2 l6,12 l-12,0 z` });
      else if (m.kind === "election") shape = svg("circle", { cx: x, cy: 12, r: 3 });
      else if (m.kind === "leader") shape = svg("path", { d: `M${x},3 l3,6 l-3,6 l-3,-6 z` });
      else if (m.kind === "fault") shape = svg("path", { d: `M${x - 3.5},6 l7,7 m0,-7 l-7,7` });
      else shape = svg("rect", { x: x - 2.5, y: 8, width: 5, height: 5 });
      const g = svg("g", { class: `mark ${kind.cls}`, "data-kind": m.kind, "data-testid": `mark-${m.kind}` },
        svg("rect", { class: "mark-hit", x: x - 5, y: 0, width: 10, height: h }), shape,
        svg("title", { text: `${ms(m.time)} · ${kind.label}: ${m.text}` }));
      g.addEventListener("click", () => this.ctx.seek(m.time));
      nodes.push(g);
    }
    this.marks.replaceChildren(...nodes);
  }

  /** Keyboard: [ slower, ] faster. */
  nudgeSpeed(factor) {
    const s = Math.min(1, Math.max(0.001, (this.snap?.player?.speed || this.sliderSpeed()) * factor));
    this.speed.value = String(Math.log10(s));
    text(this.speedOut, fmtSpeed(s));
    this.sendSpeed(s);
  }
}

let timeline = null;

/** ctx: player(action, extra), togglePlay(), seek(time). */
export function mount(ctx) {
  timeline = new Timeline(ctx);
  return timeline;
}

export function render(_root, snapshot) {
  timeline?.render(snapshot);
}
