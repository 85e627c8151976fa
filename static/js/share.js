// Sharing a run: download and upload trace files, and links that recreate the run
// (docs/protocol.md: `/?trace=<base64url of a gzip-compressed trace>` or `/?seed=7&size=5&t=1234`).

import { byId, el, text } from "./dom.js";
import { toast } from "./toast.js";

const MAX_LINK = 30000; // characters; longer links break in chat apps and some browsers

function toBase64Url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** Trace JSON text → link parameter: gzip when the browser can, plain UTF-8 otherwise. */
export async function encodeTrace(json) {
  const raw = new TextEncoder().encode(json);
  if (typeof CompressionStream === "function") return toBase64Url(await pipe(raw, new CompressionStream("gzip")));
  return toBase64Url(raw);
}

/** The inverse of encodeTrace; gzip is recognised by its magic bytes. */
export async function decodeTrace(param) {
  let bytes = fromBase64Url(param);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    if (typeof DecompressionStream !== "function") throw new Error("this browser cannot read compressed links");
    bytes = await pipe(bytes, new DecompressionStream("gzip"));
  }
  return JSON.parse(new TextDecoder().decode(bytes));
}

export class Share {
  /** ctx: api, store. */
  constructor(ctx) {
    this.ctx = ctx;
    this.note = byId("share-note");
    byId("btn-download").addEventListener("click", () => this.download());
    byId("trace-file").addEventListener("change", (e) => this.upload(e.target));
    byId("btn-link").addEventListener("click", () => this.copyLink());
    byId("btn-embed").addEventListener("click", () => this.embedCode());
  }

  async download() {
    const ack = await this.ctx.api.traceExport();
    if (!ack.ok) return;
    const snap = this.ctx.store.snapshot;
    const name = `raftviz-seed${snap?.seed ?? 0}-${Math.round(snap?.time ?? 0)}ms.json`;
    const url = URL.createObjectURL(new Blob([JSON.stringify(ack.trace, null, 1)], { type: "application/json" }));
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    text(this.note, `Saved ${name}.`);
  }

  async upload(input) {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    let trace;
    try {
      trace = JSON.parse(await file.text());
    } catch {
      toast(`${file.name} is not a JSON file`);
      return;
    }
    const ack = await this.ctx.api.traceImport(trace);
    if (ack.ok) {
      toast(`Loaded ${file.name}`, "ok");
      text(this.note, `Replaying ${file.name}.`);
    }
  }

  async copyLink() {
    const snap = this.ctx.store.snapshot;
    if (!snap) return;
    const base = `${location.origin}${location.pathname}`;
    let link = "";
    let note = "";
    const ack = await this.ctx.api.traceExport();
    if (ack.ok) {
      const param = await encodeTrace(JSON.stringify(ack.trace));
      if (param.length < MAX_LINK) {
        link = `${base}?trace=${param}`;
        note = "Link copied: it replays this exact run, your actions included.";
      }
    }
    if (!link) {
      link = `${base}?seed=${snap.seed}&size=${snap.size}&t=${Math.round(snap.time)}`;
      note = "Link copied: same seed and size (your actions do not fit in a link; download the trace for those).";
    }
    let copied = false;
    try {
      await navigator.clipboard.writeText(link);
      copied = true;
    } catch {
      /* not a secure context: show the link to copy by hand */
    }
    const field = el("input", { type: "text", readonly: true, value: link, class: "link-field", "data-testid": "share-link", "aria-label": "share link" });
    this.note.replaceChildren(el("span", { text: copied ? note : "Copy this link:" }), field);
    field.addEventListener("focus", () => field.select());
    if (!copied) field.focus();
  }

  /** The iframe snippet for a course page or a slide: this run, played read-only (/embed). */
  async embedCode() {
    const ack = await this.ctx.api.traceExport();
    if (!ack.ok) return;
    const param = await encodeTrace(JSON.stringify(ack.trace));
    if (param.length >= MAX_LINK) {
      text(this.note, "This run is too long for an embed link; download the trace instead.");
      return;
    }
    const src = `${location.origin}/embed?trace=${param}&speed=0.05`;
    const snippet = `<iframe src="${src}" width="960" height="600" style="border:0" title="raftviz: a Raft run" allowfullscreen></iframe>`;
    let copied = false;
    try {
      await navigator.clipboard.writeText(snippet);
      copied = true;
    } catch {
      /* not a secure context: show the snippet to copy by hand */
    }
    const field = el("textarea", { readonly: true, rows: 3, class: "link-field", "data-testid": "embed-snippet", "aria-label": "iframe snippet" });
    field.value = snippet;
    const tip = "Paste into a course page or slide; add &autoplay=1, &logs=1, &from=…&to=… (ms) to taste.";
    this.note.replaceChildren(el("span", { text: copied ? `Embed code copied. ${tip}` : `Copy this embed code. ${tip}` }), field);
    field.addEventListener("focus", () => field.select());
    if (!copied) field.focus();
  }

  /** Apply a share link in the address bar once connected, then clean the address bar. */
  async applyUrl() {
    const params = new URLSearchParams(location.search);
    const trace = params.get("trace");
    const seed = params.get("seed");
    const size = params.get("size");
    const t = params.get("t");
    if (!trace && !seed && !size) return;
    history.replaceState(null, "", location.pathname);
    if (trace) {
      try {
        const data = await decodeTrace(trace);
        const ack = await this.ctx.api.traceImport(data);
        if (ack.ok) toast("Replaying the shared run", "ok");
      } catch {
        toast("The shared link is damaged: it does not hold a trace");
      }
      return;
    }
    const config = {};
    if (seed !== null && /^\d+$/.test(seed)) config.seed = Number(seed);
    if (size !== null && /^\d+$/.test(size)) config.size = Number(size);
    const ack = await this.ctx.api.reset(config);
    if (ack.ok && t !== null && Number(t) > 0) await this.ctx.api.player("seek", { time: Number(t) });
  }
}
