// The logs: one row per server, one column per index. Only the columns in view are drawn, so a
// log of 10 000 entries scrolls as fast as one of 10. The view follows the newest entries
// unless the user scrolls away (a "follow newest" button brings it back).
//
// Committed entries (index ≤ the row's commit_index) are solid; uncommitted ones dashed and
// light; entries from `diverge_from` on are hatched with a red outline ("not in leader's log").
// On each follower's row the leader's next_index and match_index for it are marked.
// A compacted prefix (section 7) is one wide "snapshot" cell spanning indices 1..last included.

import { attr, el, svg, text, toggleClass } from "../dom.js";
import * as paxos from "./paxos.js";

const TERM_HUES = 8;

class LogsView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.follow = true;
    this.programmatic = false;
    this.rows = new Map(); // node id -> {label, cells: [], markers}
    this.digests = new Map(); // node id -> {start, prefix: [hash...]}
    this.snap = null;
    this.build();
  }

  build() {
    this.followBtn = el("button", { type: "button", class: "btn-small", "data-testid": "log-follow", text: "Follow newest ⇥", hidden: true });
    this.followBtn.addEventListener("click", () => {
      this.follow = true;
      this.followBtn.hidden = true;
      this.draw();
    });
    const legend = el("div", { class: "logs-legend" },
      el("span", { class: "lg lg-committed", text: "committed" }),
      el("span", { class: "lg lg-uncommitted", text: "not committed yet" }),
      el("span", { class: "lg lg-conflict", text: "not in leader's log" }),
      el("span", { class: "lg lg-marker", text: "▸next ✓match: leader's view" }));
    this.paxosLegend = el("div", { class: "logs-legend paxos-legend", hidden: true, "data-testid": "paxos-log-legend" },
      el("span", { class: "lg lg-chosen", text: "✓ chosen (learned)" }),
      el("span", { class: "lg lg-accepted", text: "accepted, not known chosen" }),
      el("span", { class: "lg lg-marker", text: "3.n1 = accepted at ballot round 3 of n1" }));
    this.raftLegend = legend;
    this.title = el("h2", { text: "Logs" });
    this.root.append(el("div", { class: "logs-head" }, this.title, legend, this.paxosLegend, this.followBtn));
    this.labels = el("div", { class: "logs-labels" });
    this.svg = svg("svg", { class: "logs-svg", "aria-hidden": "true" });
    this.inner = el("div", { class: "logs-inner" }, this.svg);
    this.scroller = el("div", { class: "logs-scroll", tabindex: 0, role: "region", "aria-label": "Log entries; scroll sideways for older or newer entries" }, this.inner);
    this.root.append(el("div", { class: "logs-body" }, this.labels, this.scroller));
    this.gHeader = svg("g", { class: "log-header" });
    this.gRows = svg("g", { class: "log-rows" });
    const defs = svg("defs", {}, svg("pattern", { id: "log-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, class: "hatch-bg" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" })));
    this.svg.append(defs, this.gHeader, this.gRows);
    this.scroller.addEventListener("scroll", () => {
      if (this.programmatic) {
        this.programmatic = false;
      } else {
        const atEnd = this.scroller.scrollLeft + this.scroller.clientWidth >= this.scroller.scrollWidth - this.cw / 2;
        this.follow = atEnd;
        this.followBtn.hidden = atEnd;
      }
      this.draw();
    }, { passive: true });
    new ResizeObserver(() => this.draw()).observe(this.scroller);
  }

  /** The font size, read once per draw (cell sizes follow it, so projector mode scales them). */
  measure() {
    this._fs = parseFloat(getComputedStyle(this.root).fontSize) || 14;
  }

  get fs() {
    return this._fs || 14;
  }

  get cw() {
    return Math.round(this.fs * 4.4);
  }

  get rh() {
    return Math.round(this.fs * 3.0);
  }

  get head() {
    return Math.round(this.fs * 1.3);
  }

  render(snap) {
    this.snap = snap;
    this.measure();
    this.updateDigests(snap);
    // Skip the redraw when nothing the rows show has changed (elections storms, heartbeats).
    const lead = leaderOf(snap);
    const ls = lead?.leader_state;
    const sig = [this.fs, lead?.id, ls && JSON.stringify([ls.next_index, ls.match_index]),
      JSON.stringify(this.ctx.selection?.() ?? null),
      ...snap.nodes.map((n) => `${n.id}:${n.log_start}:${(n.log || []).length}:${n.log_length}:${n.commit_index}:${n.diverge_from}:${n.role}:${n.state}:${n.log_from}:${n.snapshot?.last_included_index ?? 0}:${n.snapshot_download?.received ?? ""}:${(n.paxos?.chosen || []).join(",")}:${n.paxos?.phase ?? ""}`)].join("|");
    if (sig === this.sig && !snap.full) return;
    this.sig = sig;
    this.draw();
  }

  /** Rolling hashes of each node's entries (data-digest, which the browser tests compare). */
  updateDigests(snap) {
    for (const n of snap.nodes) {
      const entries = n.log || [];
      const start = n.log_start || 1;
      let d = this.digests.get(n.id);
      if (!d || d.start !== start || snap.full) d = { start, prefix: [] };
      // Entries from log_from on may have changed: forget their hashes.
      let keep = Math.min(d.prefix.length, entries.length);
      const from = n.log_from ?? 1;
      while (keep > 0 && entries[keep - 1][0] >= from) keep -= 1;
      d.prefix.length = keep;
      let h = keep ? d.prefix[keep - 1] : 2166136261;
      for (let i = keep; i < entries.length; i++) {
        const s = `${entries[i][0]}|${entries[i][1]}|${entries[i][2]};`;
        for (let j = 0; j < s.length; j++) h = Math.imul(h ^ s.charCodeAt(j), 16777619) >>> 0;
        d.prefix.push(h);
      }
      this.digests.set(n.id, d);
    }
  }

  draw() {
    const snap = this.snap;
    if (!snap) return;
    this.measure();
    const cw = this.cw;
    const rh = this.rh;
    const head = this.head;
    const nodes = snap.nodes;
    const maxLen = Math.max(0, ...nodes.map((n) => Math.max(n.log_length || 0, lastIndex(n.log))));
    const leader = leaderOf(snap);
    const ls = leader?.leader_state;
    const maxNext = ls ? Math.max(0, ...Object.values(ls.next_index || {})) : 0;
    const cols = Math.max(maxLen, maxNext) + 1;
    const width = cols * cw;
    const height = head + nodes.length * rh + 2;
    this.inner.style.width = `${width}px`;
    this.inner.style.height = `${height}px`;
    const px = paxos.isPaxos(snap);
    this.paxosOn = px;
    this.raftLegend.hidden = px;
    this.paxosLegend.hidden = !px;
    if (px) text(this.title, maxLen ? `Slots · ${maxLen} (accepted values)` : "Slots · none yet");
    else text(this.title, maxLen ? `Logs · ${maxLen} ${maxLen === 1 ? "entry" : "entries"}` : "Logs · empty");
    attr(this.root, "data-protocol", px ? "paxos" : "raft");

    const sc = this.scroller;
    if (this.follow) {
      const target = Math.max(0, width - sc.clientWidth);
      if (Math.abs(sc.scrollLeft - target) > 1) {
        this.programmatic = true;
        sc.scrollLeft = target;
      }
    }
    const viewW = Math.max(cw, sc.clientWidth);
    attr(this.svg, "width", viewW);
    attr(this.svg, "height", height);
    const first = Math.max(1, Math.floor(sc.scrollLeft / cw) + 1);
    const count = Math.ceil(viewW / cw) + 1;
    const offset = -(sc.scrollLeft - (first - 1) * cw);
    this.drawHeader(first, count, offset, cols);
    this.drawLabels(snap, leader);

    for (const [id, row] of this.rows) if (!nodes.some((n) => n.id === id)) {
      row.g.remove();
      this.rows.delete(id);
    }
    nodes.forEach((n, r) => {
      let row = this.rows.get(n.id);
      if (!row) {
        row = { g: svg("g", { class: "log-row", "data-node": n.id }), cells: [], markers: svg("g", { class: "log-markers" }) };
        row.bg = svg("rect", { class: "row-bg" });
        row.g.append(row.bg);
        row.cellsG = svg("g");
        row.g.append(row.cellsG, row.markers);
        this.rows.set(n.id, row);
      }
      if (row.g.parentNode !== this.gRows) this.gRows.append(row.g);
      attr(row.g, "transform", `translate(0,${head + r * rh})`);
      attr(row.bg, "width", viewW);
      attr(row.bg, "height", rh);
      toggleClass(row.g, "is-leader", n.id === leader?.id);
      toggleClass(row.g, "is-crashed", n.state === "crashed");
      toggleClass(row.g, "selected", this.ctx.isSelected("node", n.id));
      this.drawRow(row, n, first, count, offset, cw, rh);
      this.drawSnapshot(row, n, first, count, offset, cw);
      this.drawMarkers(row, n, ls && n.id !== leader?.id ? ls : null, first, count, offset, cw, rh);
    });
  }

  drawHeader(first, count, offset, cols) {
    const cw = this.cw;
    while (this.gHeader.childElementCount < count) this.gHeader.append(svg("text", { class: "log-index" }));
    [...this.gHeader.children].forEach((t, k) => {
      const index = first + k;
      if (k >= count || index >= cols) {
        t.style.display = "none";
        return;
      }
      t.style.display = "";
      attr(t, "x", (offset + k * cw + cw / 2).toFixed(1));
      attr(t, "y", this.head - 5);
      text(t, index);
    });
  }

  drawLabels(snap, leader) {
    const nodes = snap.nodes;
    if (this.labels.childElementCount !== nodes.length + 1) {
      this.labels.replaceChildren(el("div", { class: "log-label-head", text: "index →" }),
        ...nodes.map((n) => el("button", { type: "button", class: "log-label", "data-testid": `log-row-${n.id}` },
          el("span", { class: "ll-id" }), el("span", { class: "ll-role" }), el("span", { class: "ll-commit" }))));
      [...this.labels.children].slice(1).forEach((b) => b.addEventListener("click", () => this.ctx.select("node", b.dataset.node)));
    }
    this.labels.firstChild.style.height = `${this.head}px`;
    text(this.labels.firstChild, paxos.isPaxos(snap) ? "slot →" : "index →");
    nodes.forEach((n, i) => {
      const b = this.labels.children[i + 1];
      b.dataset.node = n.id;
      b.style.height = `${this.rh}px`;
      const d = this.digests.get(n.id);
      const len = (n.log || []).length;
      attr(b, "data-length", n.log_length ?? len);
      attr(b, "data-commit", n.commit_index ?? 0);
      // A scroll or resize can redraw between a frame's arrival and its render: hash what we have.
      const hashed = d ? Math.min(len, d.prefix.length) : 0;
      attr(b, "data-digest", `${d?.start ?? 1}:${hashed}:${hashed ? d.prefix[hashed - 1].toString(16) : "0"}`);
      attr(b, "class", `log-label role-${n.role} state-${n.state}${this.ctx.isSelected("node", n.id) ? " selected" : ""}`);
      text(b.children[0], n.id);
      const role = n.state === "crashed" ? "crashed" : n.state === "paused" ? `paused ${n.role}` : n.role;
      const shown = paxos.isPaxos(snap) && n.id !== leader?.id && n.state !== "crashed"
        ? `${n.state === "paused" ? "paused " : ""}${paxos.roleWord(n, snap).replace(/ \(.*\)$/, "").toLowerCase()}`
        : role;
      text(b.children[1], n.id === leader?.id ? "★ leader" : shown);
      text(b.children[2], paxos.isPaxos(snap) ? `chosen ≤ ${n.commit_index}` : `commit ${n.commit_index}`);
      attr(b, "title", `${n.id}: ${role}, term ${n.term}, ${n.log_length} entries, commit index ${n.commit_index}`);
    });
  }

  drawRow(row, n, first, count, offset, cw, rh) {
    const entries = n.log || [];
    const start = n.log_start || 1;
    const px = this.paxosOn;
    const chosen = px ? paxos.chosenSet(n) : null;
    const learned = px ? n.paxos?.chosen_values || {} : null;
    const last = px ? Math.max(lastIndex(entries), ...chosen) : lastIndex(entries);
    while (row.cells.length < count) {
      const g = svg("g", { class: "cell" },
        svg("rect", { class: "cell-box", x: 2, y: 2, rx: 4 }),
        svg("text", { class: "cell-term", x: 7 }),
        svg("text", { class: "cell-cmd", x: 7 }),
        svg("title"));
      row.cellsG.append(g);
      row.cells.push(g);
    }
    const conflictFrom = n.diverge_from ?? Infinity;
    const compacted = px ? 0 : n.snapshot?.last_included_index ?? 0;
    row.cells.forEach((g, k) => {
      const index = first + k;
      if (index <= compacted) {
        g.style.display = "none"; // inside the snapshot cell
        return;
      }
      let e = index >= start ? entryAt(entries, index) : null;
      // Paxos: a slot learned through Learn without being accepted here still shows its value.
      if (px && !e && learned[index] !== undefined) e = [index, "?", learned[index]];
      if (k >= count || index > last || ((index >= start || px) && !e)) {
        g.style.display = "none";
        return;
      }
      g.style.display = "";
      attr(g, "transform", `translate(${(offset + k * cw).toFixed(1)},0)`);
      const [box, term, cmd, title] = g.children;
      const fs = this.fs;
      attr(box, "width", cw - 4);
      attr(box, "height", (fs * 2.0).toFixed(1));
      attr(term, "y", (3 + fs * 0.8).toFixed(1));
      attr(cmd, "y", (3 + fs * 1.65).toFixed(1));
      if (index < start && !(px && e)) {
        attr(g, "class", "cell cell-unknown");
        text(term, "…");
        text(cmd, "");
        text(title, `index ${index}: not sent to this page`);
        return;
      }
      if (px) {
        const isChosen = paxos.isChosen(n, index, chosen);
        attr(g, "class", `cell ${isChosen ? "cell-committed cell-chosen" : "cell-uncommitted cell-accepted"} term-${(Number(e[1]) || 0) % TERM_HUES}`);
        attr(g, "data-index", index);
        attr(g, "data-chosen", isChosen ? "true" : "false");
        // The full ballot ("3.n1", the 4th element) when the server sent it, else its round.
        const ballot = e[3] ?? `b${e[1]}`;
        text(term, e[1] === "?" ? "✓ learned" : isChosen ? `✓ ${ballot}` : ballot);
        text(cmd, shorten(e[2], cw, this.fs));
        text(title, `${n.id} slot ${index}: accepted ${e[2]} at ballot ${e[3] ?? `round ${e[1]}`} (${isChosen ? "chosen: this server learned it" : "accepted here, not known to be chosen yet"})`);
        return;
      }
      const committed = index <= (n.commit_index || 0);
      const conflict = index >= conflictFrom;
      const state = conflict ? "conflict" : committed ? "committed" : "uncommitted";
      attr(g, "class", `cell cell-${state} term-${e[1] % TERM_HUES}`);
      attr(g, "data-index", index);
      text(term, `t${e[1]}`);
      text(cmd, shorten(e[2], cw, this.fs));
      const what = conflict ? "NOT in leader's log (will be overwritten)" : committed ? `committed on ${n.id}` : `not committed on ${n.id} yet`;
      text(title, `${n.id} index ${index}, term ${e[1]}: ${e[2]} (${what})`);
    });
  }

  /** The compacted prefix as one cell: "snapshot ≤ index · term", clipped to the view. */
  drawSnapshot(row, n, first, count, offset, cw) {
    const dl = this.paxosOn ? null : n.snapshot_download;
    const receiving = dl && dl.last_included_index > (n.snapshot?.last_included_index ?? 0);
    const snapInfo = this.paxosOn ? null : receiving ? { last_included_index: dl.last_included_index } : n.snapshot;
    if (!row.snap) {
      row.snap = svg("g", { class: "cell cell-snapshot" },
        svg("rect", { class: "cell-box", y: 2, rx: 4 }),
        svg("text", { class: "cell-term" }),
        svg("text", { class: "cell-cmd" }),
        svg("title"));
      row.cellsG.append(row.snap);
    }
    const g = row.snap;
    attr(g, "data-testid", `snapshot-cell-${n.id}`);
    const last = snapInfo?.last_included_index ?? 0;
    toggleClass(g, "cell-receiving", Boolean(receiving));
    if (!last || last < first) {
      g.style.display = "none";
      attr(g, "data-last-included-index", last);
      return;
    }
    g.style.display = "";
    const fs = this.fs;
    const x0 = offset + (1 - first) * cw + 2;
    const x1 = offset + (last - first + 1) * cw - 2;
    const [box, term, cmd, title] = g.children;
    attr(box, "x", x0.toFixed(1));
    attr(box, "width", Math.max(x1 - x0, 4).toFixed(1));
    attr(box, "height", (fs * 2.0).toFixed(1));
    // The words stay in view however far the cell reaches to the left.
    const tx = Math.max(x0, 0) + 5;
    const room = x1 - tx - 4;
    attr(term, "x", tx.toFixed(1));
    attr(term, "y", (3 + fs * 0.8).toFixed(1));
    attr(cmd, "x", tx.toFixed(1));
    attr(cmd, "y", (3 + fs * 1.65).toFixed(1));
    if (receiving) {
      // InstallSnapshot in progress (Fig. 13, 2-4): the file grows chunk by chunk.
      text(term, shorten(`⇣ receiving snapshot ≤ ${last}`, room, fs));
      text(cmd, shorten(`${dl.received}/${dl.size} bytes`, room, fs));
      attr(g, "data-receiving", `${dl.received}/${dl.size}`);
      text(title, `${n.id} is receiving a snapshot through index ${last}: ${dl.received} of ${dl.size} bytes so far`);
      return;
    }
    g.removeAttribute("data-receiving");
    text(term, shorten(`▣ snapshot ≤ ${last}`, room, fs));
    text(cmd, shorten(`t${snapInfo.last_included_term} · compacted`, room, fs));
    attr(g, "data-last-included-index", last);
    attr(g, "data-last-included-term", snapInfo.last_included_term);
    text(title, `${n.id}: entries 1–${last} were compacted into a snapshot (section 7); the log keeps only the last included index ${last} and term ${snapInfo.last_included_term}`);
  }

  drawMarkers(row, n, ls, first, count, offset, cw, rh) {
    const want = [];
    if (ls && n.state !== "crashed") {
      const next = ls.next_index?.[n.id];
      const match = ls.match_index?.[n.id];
      if (match) want.push({ index: match, kind: "match", label: "✓ match" });
      if (next) want.push({ index: next, kind: "next", label: "next ▸" });
    } else if (ls && n.state === "crashed") {
      const next = ls.next_index?.[n.id];
      if (next) want.push({ index: next, kind: "next", label: "next ▸" });
    }
    while (row.markers.childElementCount < 2) {
      row.markers.append(svg("g", { class: "marker" }, svg("rect", { rx: 3 }), svg("text", {}), svg("title")));
    }
    [...row.markers.children].forEach((g, i) => {
      const m = want[i];
      if (!m || m.index < first || m.index >= first + count) {
        g.style.display = "none";
        return;
      }
      g.style.display = "";
      const fs = this.fs;
      const x = offset + (m.index - first) * cw + 2;
      const width = cw - 4;
      const height = fs * 0.78;
      attr(g, "class", `marker marker-${m.kind}`);
      attr(g, "data-testid", `marker-${m.kind}-${n.id}`);
      attr(g, "transform", `translate(${x.toFixed(1)},${(rh - height - 1).toFixed(1)})`);
      const [box, t, title] = g.children;
      attr(box, "width", width);
      attr(box, "height", height.toFixed(1));
      attr(t, "x", width / 2);
      attr(t, "y", (height * 0.78).toFixed(1));
      text(t, m.label);
      text(title, m.kind === "match"
        ? `leader's match_index for ${n.id}: ${m.index} (known replicated up to here)`
        : `leader's next_index for ${n.id}: ${m.index} (the next entry it will send)`);
    });
  }
}

function lastIndex(entries) {
  return entries && entries.length ? entries[entries.length - 1][0] : 0;
}

/** The entry with this index (entries are in index order; a Paxos log may have gaps). */
function entryAt(entries, index) {
  const guess = index - (entries.length ? entries[0][0] : 0);
  if (guess >= 0 && guess < entries.length && entries[guess][0] === index) return entries[guess];
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = entries[mid][0];
    if (at === index) return entries[mid];
    if (at < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

/** The live leader; without one, the leader of the highest term that still acts as one. */
function leaderOf(snap) {
  const lead = snap.nodes.find((n) => n.id === snap.leader);
  if (lead) return lead;
  const acting = snap.nodes.filter((n) => n.role === "leader" && n.state === "up" && n.leader_state);
  return acting.sort((a, b) => b.term - a.term)[0] || null;
}

function shorten(command, cw, fs) {
  const max = Math.max(4, Math.floor((cw - 9) / (fs * 0.7 * 0.56)));
  const s = String(command);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const views = new WeakMap();

export function mount(root, ctx) {
  const view = new LogsView(root, ctx);
  views.set(root, view);
  return view;
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}
