// Slides and video: the server draws the current view (SVG, PNG) or a time range (GIF, WebM)
// at projector size; progress arrives as `export_progress` events and the file as a link
// (raftviz/web/export_events.py). The range defaults to the last five seconds of the run.

import { byId, el, text } from "./dom.js";
import { toast } from "./toast.js";

const CLIPS = new Set(["gif", "webm"]);
const DEFAULT_RANGE_MS = 5000;

export class Exporter {
  /** ctx: api, socket, store. */
  constructor(ctx) {
    this.ctx = ctx;
    this.job = null;
    this.format = byId("export-format");
    this.size = byId("export-size");
    this.range = byId("export-range");
    this.start = byId("export-start");
    this.end = byId("export-end");
    this.seconds = byId("export-seconds");
    this.fps = byId("export-fps");
    this.button = byId("btn-export");
    this.bar = byId("export-progress");
    this.note = byId("export-note");
    this.format.addEventListener("change", () => this.showRange());
    byId("export-last").addEventListener("click", () => this.fillRange(true));
    this.button.addEventListener("click", () => this.run());
    ctx.socket.on("export_progress", (p) => this.progress(p));
    ctx.socket.on("export_done", (d) => this.done(d));
    ctx.socket.on("export_failed", (f) => this.failed(f));
    this.showRange();
  }

  showRange() {
    const clip = CLIPS.has(this.format.value);
    this.range.hidden = !clip;
    if (clip) this.fillRange(false);
  }

  /** The last few seconds of the run (only into empty fields unless `force`). */
  fillRange(force) {
    const horizon = this.ctx.store.snapshot?.player?.horizon ?? this.ctx.store.snapshot?.time ?? 0;
    if (force || this.end.value === "") this.end.value = String(Math.floor(horizon));
    if (force || this.start.value === "") this.start.value = String(Math.max(0, Math.floor(horizon - DEFAULT_RANGE_MS)));
  }

  payload() {
    const payload = { format: this.format.value, size: this.size.value };
    if (CLIPS.has(payload.format)) {
      payload.start = Number(this.start.value);
      payload.end = Number(this.end.value);
      payload.seconds = Number(this.seconds.value);
      payload.fps = Number(this.fps.value);
    }
    return payload;
  }

  async run() {
    if (this.job) return;
    this.button.disabled = true;
    text(this.note, "Starting…");
    const ack = await this.ctx.api.exportStart(this.payload(), { quiet: true });
    if (!ack.ok) {
      this.button.disabled = false;
      text(this.note, ack.error);
      this.note.dataset.state = "error";
      return;
    }
    this.job = ack.job;
    this.bar.max = ack.total;
    this.bar.value = 0;
    this.bar.hidden = false;
    this.note.dataset.state = "running";
    text(this.note, ack.total > 1 ? `Drawing ${ack.total} frames…` : "Drawing…");
  }

  progress(p) {
    if (!p || p.job !== this.job) return;
    this.bar.max = p.total;
    this.bar.value = p.done;
    text(this.note, p.total > 1 ? `Frame ${p.done} of ${p.total}…` : "Drawing…");
  }

  finish() {
    this.job = null;
    this.button.disabled = false;
    this.bar.hidden = true;
  }

  done(d) {
    if (!d || d.job !== this.job) return;
    this.finish();
    const kib = Math.max(1, Math.round(d.bytes / 1024));
    const link = el("a", { href: d.url, download: d.filename, "data-testid": "export-link", text: `Download ${d.filename}` });
    const what = d.frames > 1 ? `${d.frames} frames, ` : "";
    this.note.replaceChildren(link, el("span", { text: ` (${d.width}×${d.height}, ${what}${kib} KiB, ${d.seconds} s)` }));
    this.note.dataset.state = "done";
    this.note.dataset.format = d.format;
    this.note.dataset.frames = String(d.frames);
    link.click();
  }

  failed(f) {
    if (!f || f.job !== this.job) return;
    this.finish();
    text(this.note, f.error);
    this.note.dataset.state = "error";
    toast(f.error);
  }
}
