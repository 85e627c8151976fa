// Popover menus over the canvas: a server's actions, a link's cut/heal choices, a message's
// deliver/drop. The same actions are reachable by keyboard and from the inspector.

import { attr, byId, el } from "./dom.js";
import * as membership from "./views/membership.js";
import * as scripting from "./views/scripting.js";

// A slow disk: longer than the default election timeout (150-300 ms), so a leader whose
// heartbeats wait behind it loses its followers (the slow-disk lesson).
const SLOW_DISK_MS = 400;

const READ_MODES = [
  ["log", "log read (through the log)"],
  ["read_index", "ReadIndex (leader confirms)"],
  ["lease", "lease read (leader's clock)"],
  ["follower", "follower read (may be stale)"],
];

export class Menus {
  /** ctx: store, command(cmd), anchorOf(nodeId) -> {x, y, r} in canvas pixels. */
  constructor(ctx) {
    this.ctx = ctx;
    this.box = byId("popover");
    this.wrap = byId("cluster-wrap");
    this.kind = null;
    this.target = null;
    this.writeCounter = 1;
    this.lastKey = "x";
    document.addEventListener("pointerdown", (e) => {
      if (!this.box.hidden && !this.box.contains(e.target) && !e.target.closest?.(".node, .link")) this.close();
    });
  }

  isOpen() {
    return !this.box.hidden;
  }

  close() {
    this.box.hidden = true;
    this.box.replaceChildren();
    this.kind = null;
    this.target = null;
  }

  place(x, y, offset = 0) {
    const box = this.box;
    box.hidden = false;
    const wrapW = this.wrap.clientWidth;
    const wrapH = this.wrap.clientHeight;
    const w = box.offsetWidth;
    const h = box.offsetHeight;
    let left = x + offset + 8;
    if (left + w > wrapW - 4) left = x - offset - 8 - w;
    left = Math.max(4, Math.min(left, wrapW - w - 4));
    const top = Math.max(4, Math.min(y - h / 2, wrapH - h - 4));
    box.style.left = `${left}px`;
    box.style.top = `${top}px`;
  }

  header(title, sub) {
    const close = el("button", { type: "button", class: "pop-close", "aria-label": "Close menu", text: "×", onclick: () => this.close() });
    return el("div", { class: "pop-head" }, el("div", {}, el("strong", { text: title }), sub ? el("span", { class: "pop-sub", text: sub }) : null), close);
  }

  /**
   * The actions for one server, as buttons (used in the menu and the inspector); the menu
   * shows the scripting ones in a section of their own (`byHand` false).
   */
  nodeButtons(id, byHand = true) {
    const n = this.ctx.store.node(id);
    if (!n) return [];
    const cmd = (c) => () => this.ctx.command(c);
    const crashed = n.state === "crashed";
    const paused = n.state === "paused";
    return [
      el("button", { type: "button", class: crashed ? "btn-primary" : "btn-danger", "data-testid": crashed ? "action-restart" : "action-crash", title: "c",
        text: crashed ? "Restart" : "Crash", onclick: cmd({ type: crashed ? "restart" : "crash", node: id }) }),
      el("button", { type: "button", "data-testid": paused ? "action-resume" : "action-pause", title: "p", disabled: crashed,
        text: paused ? "Resume" : "Pause", onclick: cmd({ type: paused ? "resume" : "pause", node: id }) }),
      el("button", { type: "button", "data-testid": "action-timeout", title: "t: force an election timeout now", disabled: crashed || paused,
        text: "Time out now", onclick: cmd({ type: "timeout", node: id }) }),
      ...membership.nodeButtons(n, this.ctx.store.snapshot, cmd),
      ...(this.ctx.store.snapshot?.protocol === "raft" ? [this.snapshotButton(n, crashed || paused)] : []),
      ...this.diskButton(id, n),
      ...(byHand ? scripting.nodeButtons(n) : []),
    ];
  }

  /** Raft only: give the server a slow disk (every fsync takes SLOW_DISK_MS), or its normal one back. */
  diskButton(id, n) {
    if (!n.disk) return [];
    const slow = n.disk.slow;
    return [el("button", { type: "button", "data-testid": slow ? "action-normal-disk" : "action-slow-disk",
      title: slow ? `every fsync back to ${n.disk.default_ms} ms` : `every fsync takes ${SLOW_DISK_MS} ms, as on a disk shared with a busy neighbour`,
      text: slow ? "Normal disk" : "Slow disk",
      onclick: () => this.ctx.command({ type: "disk", node: id, fsync_ms: slow ? n.disk.default_ms : SLOW_DISK_MS }) })];
  }

  /** Section 7 on demand: snapshot the state machine and compact the log up to last_applied. */
  snapshotButton(n, down) {
    const through = n.snapshot?.last_included_index ?? 0;
    const fresh = (n.last_applied ?? 0) > through;
    const why = down ? `${n.id} is not running`
      : fresh ? `save ${n.id}'s state machine as a snapshot through index ${n.last_applied} and discard those log entries`
        : `${n.id} has applied nothing since its snapshot through index ${through}`;
    return el("button", { type: "button", "data-testid": "action-snapshot", title: why, disabled: down || !fresh,
      text: "Snapshot now", onclick: () => this.ctx.command({ type: "snapshot", node: n.id }) });
  }

  /**
   * Partitioning and links without a mouse: move this server to a side, or open the menu of
   * its link to another server (the same commands as dragging and clicking a link).
   */
  networkForm(id) {
    const cols = this.ctx.sides ? this.ctx.sides() : [];
    const sideNames = "ABCDEFGHI";
    const options = [];
    let named = 0;
    cols.forEach((c, index) => {
      if (c.free) return;
      const name = sideNames[named++];
      if (!c.ids.includes(id)) options.push(el("option", { value: String(index), text: `side ${name} (${c.ids.join(", ")})` }));
    });
    options.push(el("option", { value: "new", text: "a side of its own" }));
    const side = el("select", { "aria-label": "move to side", "data-testid": "move-side" }, ...options);
    const move = el("form", { class: "pop-form", "data-testid": "move-form" },
      el("span", { class: "pop-label", text: "Partition: move to" }),
      el("div", { class: "pop-row" }, side, el("button", { type: "submit", "data-testid": "move-submit", text: "Move" })));
    move.addEventListener("submit", (e) => {
      e.preventDefault();
      const zone = side.value === "new" ? { isNew: true, index: -1 } : { isNew: false, index: Number(side.value) };
      this.close();
      this.ctx.moveToSide(id, zone);
    });
    const others = (this.ctx.store.snapshot?.nodes || []).map((n) => n.id).filter((x) => x !== id);
    const peer = el("select", { "aria-label": "link to server", "data-testid": "link-peer" }, ...others.map((x) => el("option", { value: x, text: x })));
    const link = el("form", { class: "pop-form", "data-testid": "link-form" },
      el("span", { class: "pop-label", text: "Link to" }),
      el("div", { class: "pop-row" }, peer, el("button", { type: "submit", "data-testid": "link-open", text: "Cut or heal…" })));
    link.addEventListener("submit", (e) => {
      e.preventDefault();
      this.openLink(id, peer.value, this.ctx.anchorOf(id));
    });
    return el("div", { class: "pop-network" }, move, others.length ? link : null);
  }

  openNode(id, focus = null) {
    const n = this.ctx.store.node(id);
    const at = this.ctx.anchorOf(id);
    if (!n || !at) return;
    this.kind = "node";
    this.target = id;
    const role = n.state === "crashed" ? "crashed" : n.state === "paused" ? `paused ${n.role}` : n.role;
    const key = el("input", { type: "text", name: "key", value: this.lastKey, maxlength: 64, required: true, "aria-label": "key", "data-testid": "write-key", size: 5 });
    const value = el("input", { type: "text", name: "value", value: String(this.writeCounter), maxlength: 64, required: true, "aria-label": "value", "data-testid": "write-value", size: 5 });
    const write = el("form", { class: "pop-form", "data-testid": "write-form" },
      el("span", { class: "pop-label", text: "Client write here" }),
      el("div", { class: "pop-row" }, key, el("span", { text: "=" }), value,
        el("button", { type: "submit", class: "btn-primary", "data-testid": "write-submit", text: "Write" })));
    write.addEventListener("submit", (e) => {
      e.preventDefault();
      this.lastKey = key.value;
      this.writeCounter += 1;
      this.ctx.command({ type: "client", op: "set", key: key.value, value: value.value, node: id });
      value.value = String(this.writeCounter);
    });
    const rkey = el("input", { type: "text", value: this.lastKey, maxlength: 64, required: true, "aria-label": "key to read", "data-testid": "read-key", size: 5 });
    const mode = el("select", { "aria-label": "read mode", "data-testid": "read-mode" }, ...READ_MODES.map(([v, label]) => el("option", { value: v, text: label })));
    const read = el("form", { class: "pop-form", "data-testid": "read-form" },
      el("span", { class: "pop-label", text: "Client read here" }),
      el("div", { class: "pop-row" }, rkey, mode, el("button", { type: "submit", "data-testid": "read-submit", text: "Read" })));
    read.addEventListener("submit", (e) => {
      e.preventDefault();
      this.ctx.command({ type: "client", op: "get", key: rkey.value, node: id, read_mode: mode.value });
    });
    if (n.state === "crashed") {
      write.classList.add("is-disabled");
      read.classList.add("is-disabled");
    }
    const closing = (b) => {
      b.addEventListener("click", () => this.close());
      return b;
    };
    const byHand = scripting.nodeButtons(n).map(closing);
    this.box.replaceChildren(
      this.header(id, `${role} · term ${n.term}`),
      el("div", { class: "pop-actions" }, ...this.nodeButtons(id, false).map(closing)),
      write, read,
      byHand.length ? el("div", { class: "pop-form pop-byhand", "data-testid": "by-hand" },
        el("span", { class: "pop-label", text: "By hand (scripting)" }),
        el("div", { class: "pop-actions" }, ...byHand)) : null,
      this.networkForm(id));
    attr(this.box, "data-testid", `node-menu-${id}`);
    this.place(at.x, at.y, at.r + 14);
    if (focus === "write") value.focus();
    else if (focus === "read") rkey.focus();
    else this.box.querySelector("button.btn-danger, button.btn-primary")?.focus({ preventScroll: true });
  }

  openLink(a, b, at) {
    const snap = this.ctx.store.snapshot;
    const cut = new Set((snap?.network?.cut || []).map(([s, d]) => `${s}>${d}`));
    const ab = cut.has(`${a}>${b}`);
    const ba = cut.has(`${b}>${a}`);
    const state = ab && ba ? "cut both ways" : ab ? `cut ${a}→${b}` : ba ? `cut ${b}→${a}` : "working";
    this.kind = "link";
    this.target = `${a}|${b}`;
    const act = (c) => () => {
      this.ctx.command(c);
      this.close();
    };
    this.box.replaceChildren(
      this.header(`link ${a} — ${b}`, state),
      el("div", { class: "pop-actions pop-grid" },
        el("button", { type: "button", class: "btn-danger", "data-testid": "link-cut-both", text: `↔ cut both ways`, onclick: act({ type: "cut", src: a, dst: b, both: true }) }),
        el("button", { type: "button", "data-testid": "link-cut-ab", text: `→ cut ${a}→${b} only`, onclick: act({ type: "cut", src: a, dst: b, both: false }) }),
        el("button", { type: "button", "data-testid": "link-cut-ba", text: `← cut ${b}→${a} only`, onclick: act({ type: "cut", src: b, dst: a, both: false }) }),
        el("button", { type: "button", class: "btn-primary", "data-testid": "link-heal", text: "heal this link", disabled: !(ab || ba), onclick: act({ type: "restore", src: a, dst: b, both: true }) })),
      scripting.linkSection(a, b, () => this.close()),
      el("p", { class: "pop-note", text: "A partition (drag a server to another side) also blocks links; heal it from the Network panel." }));
    attr(this.box, "data-testid", "link-menu");
    this.place(at.x, at.y, 10);
  }

  openMessage(id, at) {
    const m = this.ctx.store.findMessage(id);
    if (!m || m.lost_at !== undefined) return;
    this.kind = "message";
    this.target = id;
    const act = (c) => () => {
      this.ctx.command(c);
      this.close();
    };
    this.box.replaceChildren(
      this.header(`${m.kind} m${m.id}`, `${m.from} → ${m.to}`),
      el("p", { class: "pop-note", text: m.summary || "" }),
      el("div", { class: "pop-actions" },
        el("button", { type: "button", class: "btn-primary", "data-testid": "msg-deliver", text: "Deliver now", onclick: act({ type: "deliver", id: m.id }) }),
        el("button", { type: "button", class: "btn-danger", "data-testid": "msg-drop", text: "Drop", onclick: act({ type: "drop", id: m.id }) })));
    attr(this.box, "data-testid", "message-menu");
    this.place(at.x, at.y, 12);
  }
}
