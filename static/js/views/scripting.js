// The scripting commands on the page (docs/commands.md, "Scripting"; docs/ui.md): a leader's
// "Send heartbeats now", a raw request handed to one server, a hand-made protocol message,
// dropping one kind of message (on a link or cluster-wide) and jitter. Each control sends the
// same `command` event as every other button; the server checks the fields and its errors are
// shown where the user typed them.

import { byId, el, keyed, text } from "../dom.js";
import { byNodeId } from "../format.js";

/** Every message kind a drop rule can name (raftviz/core/messages.py: Kind). */
export const KINDS = [
  "AppendEntries", "AppendEntriesReply", "RequestVote", "RequestVoteReply", "InstallSnapshot",
  "InstallSnapshotReply", "TimeoutNow", "ClientRequest", "ClientReply",
];

// The fields of each message a user may build (raftviz/sim/engine/scripting.py: INJECTABLE),
// beyond kind, src, dst and term. `seq` (ReadIndex bookkeeping) is left at its default.
const INJECT = {
  RequestVote: {
    what: "a candidate asks for a vote (Raft Fig. 2)",
    fields: [["last_log_index", "int"], ["last_log_term", "int"], ["pre_vote", "bool"]],
  },
  RequestVoteReply: {
    what: "a voter answers a candidate",
    fields: [["vote_granted", "bool"], ["pre_vote", "bool"]],
  },
  AppendEntries: {
    what: "a leader replicates entries; no entries is a heartbeat",
    fields: [["prev_log_index", "int"], ["prev_log_term", "int"], ["entries", "json"], ["leader_commit", "int"]],
  },
  AppendEntriesReply: {
    what: "a follower answers a leader",
    fields: [["success", "bool"], ["match_index", "int"], ["reject_index", "int"], ["conflict_term", "int"], ["conflict_index", "int"]],
  },
};

const PROPOSE_OPS = ["set", "get", "delete", "cas"];
const JITTER_MAX = 200; // the slider's end; the command takes up to 10000 ms

/** `{rules: [{src, dst, kinds}], jitter}` in force at the snapshot's time
 * (docs/snapshot.md: `network.dropped_kinds`, `network.jitter`). */
export function networkScript(snap) {
  const net = snap?.network || {};
  return { rules: net.dropped_kinds || [], jitter: Number(net.jitter) || 0 };
}

const who = (id) => (id === "*" ? "any server" : id);

/** "AppendEntries n1 → any server" */
function ruleText(src, dst, kind) {
  return `${kind} ${who(src)} → ${who(dst)}`;
}

/** Kinds dropped on exactly src → dst (not counting "*" rules). */
function kindsOn(snap, src, dst) {
  return networkScript(snap).rules.find((r) => r.src === src && r.dst === dst)?.kinds || [];
}

/** The badge a link shows for drop rules on exactly its two ends ("" when none). */
export function linkLabel(snap, a, b) {
  const ab = kindsOn(snap, a, b);
  const ba = kindsOn(snap, b, a);
  const kinds = (list) => (list.length === 1 ? list[0] : `${list.length} kinds`);
  if (ab.length && ba.length) {
    return ab.join() === ba.join() ? `⊘ ${kinds(ab)} ↔` : `⊘ ${kinds(ab)} ${a}→${b}, ${kinds(ba)} ${b}→${a}`;
  }
  if (ab.length) return `⊘ ${kinds(ab)} ${a}→${b}`;
  if (ba.length) return `⊘ ${kinds(ba)} ${b}→${a}`;
  return "";
}

/** Where a link's drop-rule badge sits, from a (0) to b (1): nearer the end that sends. */
export function linkLabelAt(snap, a, b) {
  const ab = kindsOn(snap, a, b).length > 0;
  const ba = kindsOn(snap, b, a).length > 0;
  return ab === ba ? 0.5 : ab ? 0.38 : 0.62;
}

function lastLogTerm(n) {
  const log = n?.log || [];
  const last = log[log.length - 1];
  if (last && last[0] === n.log_length) return last[1];
  return n?.snapshot?.last_included_term ?? 0;
}

function labelled(label, control, hint) {
  return el("label", { class: "script-field" }, el("span", { class: "script-field-name", text: label }), control, hint || null);
}

class Scripting {
  /** ctx: store, command(cmd, opts) -> ack promise. */
  constructor(ctx) {
    this.ctx = ctx;
    this.returnTo = null;
    this.dialog = el("dialog", { class: "script-dialog", "aria-labelledby": "script-dialog-title", "data-testid": "script-dialog" });
    document.body.append(this.dialog);
    // Shortcut keys (c, p, t…) must not act on the cluster behind the dialog.
    this.dialog.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") e.stopPropagation();
    });
    this.dialog.addEventListener("close", () => {
      this.dialog.replaceChildren();
      const back = this.returnTo && document.querySelector(`[data-testid="node-${this.returnTo}"]`);
      back?.focus({ preventScroll: true });
      this.returnTo = null;
    });
    this.dialog.addEventListener("click", (e) => {
      if (e.target === this.dialog) this.dialog.close(); // a click on the backdrop
    });
    this.buildNetwork();
  }

  // ------------------------------------------------------------- node menu

  /** Node-menu (and inspector) buttons: heartbeat now, raw request, hand-made message. */
  nodeButtons(n) {
    const snap = this.ctx.store.snapshot;
    if (!snap || snap.protocol !== "raft") return [];
    const running = n.state === "up";
    const out = [];
    if (n.role === "leader" && running) {
      out.push(el("button", { type: "button", "data-testid": "action-heartbeat",
        title: "The leader sends AppendEntries to every follower now; each follower's election timer restarts when one arrives",
        text: "Send heartbeats now", onclick: () => this.ctx.command({ type: "heartbeat", node: n.id }) }));
    }
    out.push(
      el("button", { type: "button", "data-testid": "action-inject",
        title: "Build a RequestVote, AppendEntries or a reply by hand and send it to this server",
        text: "Send this node a hand-made message…", onclick: () => this.openInject(n.id) }),
      el("button", { type: "button", "data-testid": "action-propose", disabled: !running,
        title: running ? "Give this server one request directly: no client, no retries" : `${n.id} is not running`,
        text: "Hand this node a raw request…", onclick: () => this.openPropose(n.id) }),
    );
    return out;
  }

  // ---------------------------------------------------------------- dialogs

  open(title, nodeId, ...body) {
    if (this.dialog.open) this.dialog.close();
    this.returnTo = nodeId;
    const error = el("p", { class: "script-error", role: "alert", "data-testid": "script-error" });
    this.dialog.replaceChildren(el("h2", { id: "script-dialog-title", text: title }), ...body, error);
    this.dialog.showModal();
    return error;
  }

  /** Send from a dialog: close it on success, else show the server's error in it. */
  async send(cmd, error, done) {
    text(error, "");
    const ack = await this.ctx.command(cmd, { quiet: true });
    if (ack.ok) {
      done?.();
      if (this.dialog.open) this.dialog.close();
    } else text(error, String(ack.error || "the server refused"));
  }

  buttons(submitText, testid) {
    return el("div", { class: "script-buttons" },
      el("button", { type: "submit", class: "btn-primary", "data-testid": testid, text: submitText }),
      el("button", { type: "button", "data-testid": "script-cancel", text: "Cancel", onclick: () => this.dialog.close() }));
  }

  openPropose(id) {
    const op = el("select", { "data-testid": "propose-op" }, ...PROPOSE_OPS.map((o) => el("option", { value: o, text: o })));
    const key = el("input", { type: "text", value: "x", maxlength: 64, required: true, "data-testid": "propose-key" });
    const value = el("input", { type: "text", value: "1", maxlength: 64, "data-testid": "propose-value" });
    const expected = el("input", { type: "text", maxlength: 64, "data-testid": "propose-expected" });
    const valueField = labelled("value", value);
    const expectedField = labelled("expected (cas)", expected);
    const shown = () => {
      valueField.hidden = !["set", "cas"].includes(op.value);
      expectedField.hidden = op.value !== "cas";
    };
    op.addEventListener("change", shown);
    const form = el("form", { class: "script-form", method: "dialog", "data-testid": "propose-form" },
      el("p", { class: "script-note", text: `Goes straight to ${id}, as if from an endpoint called "script": no client, so no retries, no leader hints, and no record for the linearizability check. A leader appends it to its log; any other server refuses it.` }),
      el("div", { class: "script-grid" }, labelled("operation", op), labelled("key", key), valueField, expectedField),
      this.buttons("Hand it over", "propose-submit"));
    shown();
    const error = this.open(`Hand ${id} a raw request`, id, form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const cmd = { type: "propose", node: id, op: op.value, key: key.value };
      if (!valueField.hidden) cmd.value = value.value;
      if (!expectedField.hidden && expected.value !== "") cmd.expected = expected.value;
      this.send(cmd, error);
    });
    key.focus();
  }

  openInject(dstId) {
    const snap = this.ctx.store.snapshot;
    const ids = (snap?.nodes || []).map((n) => n.id).sort(byNodeId);
    const choose = (testid, value) => {
      const s = el("select", { "data-testid": testid }, ...ids.map((x) => el("option", { value: x, text: x })));
      s.value = value;
      return s;
    };
    const kind = el("select", { "data-testid": "inject-kind" }, ...Object.keys(INJECT).map((k) => el("option", { value: k, text: k })));
    const other = snap?.leader && snap.leader !== dstId ? snap.leader : ids.find((x) => x !== dstId) || dstId;
    const src = choose("inject-src", other);
    const dst = choose("inject-dst", dstId);
    const term = el("input", { type: "number", min: 0, step: 1, required: true, "data-testid": "inject-term" });
    const termHint = el("p", { class: "script-note", id: "inject-term-hint", "data-testid": "inject-term-hint" });
    term.setAttribute("aria-describedby", "inject-term-hint");
    const what = el("p", { class: "script-note", "data-testid": "inject-what" });
    const fieldsBox = el("div", { class: "script-grid" });
    let inputs = new Map();

    const fill = () => {
      const k = kind.value;
      const target = this.ctx.store.node(dst.value);
      const sender = this.ctx.store.node(src.value);
      const t = target?.term ?? 0;
      term.value = String(k === "RequestVote" ? t + 1 : t);
      text(termHint, `${dst.value} is at term ${t}: a lower term is stale (refused or ignored), a higher one makes ${dst.value} step up to it.`);
      text(what, `${k}: ${INJECT[k].what}. It travels like any message: latency, loss, partitions and manual delivery apply.`);
      const defaults = {
        last_log_index: target?.log_length ?? 0,
        last_log_term: lastLogTerm(target),
        prev_log_index: target?.log_length ?? 0,
        prev_log_term: lastLogTerm(target),
        leader_commit: target?.commit_index ?? 0,
        match_index: sender?.log_length ?? 0,
        entries: "[]",
        vote_granted: true,
        success: true,
      };
      inputs = new Map();
      fieldsBox.replaceChildren(...INJECT[k].fields.map(([name, type]) => {
        let input;
        let hint = null;
        if (type === "bool") {
          input = el("input", { type: "checkbox", "data-testid": `inject-${name}` });
          input.checked = Boolean(defaults[name]);
        } else if (type === "int") {
          input = el("input", { type: "number", min: 0, step: 1, required: true, value: String(defaults[name] ?? 0), "data-testid": `inject-${name}` });
        } else {
          input = el("input", { type: "text", value: defaults[name], "data-testid": `inject-${name}`, spellcheck: "false" });
          hint = el("small", { class: "script-hint", text: 'JSON list, e.g. [{"term": 2, "op": "set", "key": "x", "value": "9"}]; [] is a heartbeat' });
        }
        inputs.set(name, [type, input]);
        return labelled(name, input, hint);
      }));
    };
    for (const s of [kind, src, dst]) s.addEventListener("change", fill);

    const form = el("form", { class: "script-form", method: "dialog", "data-testid": "inject-form" },
      el("div", { class: "script-grid" }, labelled("kind", kind), labelled("from", src), labelled("to", dst)),
      what,
      el("div", { class: "script-grid" }, labelled("term", term)),
      termHint,
      fieldsBox,
      el("p", { class: "script-note", text: "Defaults come from the receiver's state now: its term, last log index and term, commit index." }),
      this.buttons("Send", "inject-submit"));
    fill();
    const error = this.open(`Send ${dstId} a hand-made message`, dstId, form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const message = { kind: kind.value, src: src.value, dst: dst.value, term: Number(term.value) };
      for (const [name, [type, input]] of inputs) {
        if (type === "bool") message[name] = input.checked;
        else if (type === "int") message[name] = Number(input.value);
        else {
          try {
            message[name] = JSON.parse(input.value || "[]");
          } catch {
            text(error, `${name} is not valid JSON: write a list such as [] or [{"term": 2}]`);
            input.focus();
            return;
          }
        }
      }
      this.send({ type: "inject", message }, error);
    });
    kind.focus();
  }

  // --------------------------------------------------------- drop by kind

  /** Drop (or stop dropping) one kind on src → dst, keeping the pair's other kinds. */
  setKind(src, dst, kind, on) {
    const kinds = new Set(kindsOn(this.ctx.store.snapshot, src, dst));
    if (on) kinds.add(kind);
    else kinds.delete(kind);
    return this.ctx.command({ type: "drop_kind", src, dst, kinds: [...kinds].sort() });
  }

  /** The link menu's part: drop one kind on this link, one way or both, and its rules. */
  linkSection(a, b, close) {
    const snap = this.ctx.store.snapshot;
    if (!snap || snap.protocol !== "raft") return null;
    const kind = el("select", { "aria-label": "kind of message to drop", "data-testid": "link-drop-kind" }, ...KINDS.map((k) => el("option", { value: k, text: k })));
    const way = el("select", { "aria-label": "direction", "data-testid": "link-drop-way" },
      el("option", { value: "ab", text: `${a}→${b}` }), el("option", { value: "ba", text: `${b}→${a}` }), el("option", { value: "both", text: "both ways" }));
    if (snap.leader === b) way.value = "ba"; // what a leader sends is what one usually means
    const form = el("form", { class: "pop-form", "data-testid": "link-drop-form" },
      el("span", { class: "pop-label", text: "Drop only one kind of message" }),
      el("div", { class: "pop-row" }, kind, way, el("button", { type: "submit", class: "btn-danger", "data-testid": "link-drop-submit", text: "Drop" })));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const pairs = way.value === "ab" ? [[a, b]] : way.value === "ba" ? [[b, a]] : [[a, b], [b, a]];
      for (const [s, d] of pairs) this.setKind(s, d, kind.value, true);
      close();
    });
    const rules = [[a, b], [b, a]].flatMap(([s, d]) => kindsOn(snap, s, d).map((k) => [s, d, k]));
    const list = rules.length ? el("ul", { class: "script-rules", "data-testid": "link-drop-rules" }, ...rules.map(([s, d, k]) => el("li", {},
      el("span", { text: ruleText(s, d, k) }),
      el("button", { type: "button", class: "btn-small", "aria-label": `Stop dropping ${ruleText(s, d, k)}`, "data-testid": "link-drop-stop", text: "Stop dropping",
        onclick: () => { this.setKind(s, d, k, false); close(); } })))) : null;
    return el("div", {}, form, list);
  }

  // ------------------------------------------------------- network panel

  buildNetwork() {
    this.jitter = byId("net-jitter");
    this.jitterOut = byId("net-jitter-out");
    this.jitter.addEventListener("input", () => text(this.jitterOut, this.jitterText(Number(this.jitter.value))));
    this.jitter.addEventListener("change", () => this.ctx.command({ type: "jitter", ms: Number(this.jitter.value) }));

    const box = byId("dropkind");
    this.kind = el("select", { id: "drop-kind", "data-testid": "drop-kind" }, ...KINDS.map((k) => el("option", { value: k, text: k })));
    this.src = el("select", { id: "drop-src", "data-testid": "drop-src" });
    this.dst = el("select", { id: "drop-dst", "data-testid": "drop-dst" });
    this.idsKey = "";
    const form = el("form", { class: "dropkind-form", "data-testid": "drop-form" },
      el("label", { for: "drop-kind", text: "kind" }), this.kind,
      el("label", { for: "drop-src", text: "from" }), this.src,
      el("label", { for: "drop-dst", text: "to" }), this.dst,
      el("button", { type: "submit", class: "btn-danger span2", "data-testid": "drop-submit", text: "Drop this kind" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.setKind(this.src.value, this.dst.value, this.kind.value, true);
    });
    this.rules = el("ul", { class: "script-rules", "data-testid": "drop-rules" });
    this.rulesHead = el("p", { class: "hint", "data-testid": "drop-rules-head" });
    // Folded until wanted (the panel is long on a laptop); the rules in force always show.
    box.append(
      el("details", { class: "dropkind-details", "data-testid": "drop-details" },
        el("summary", { text: "Drop one kind of message" }),
        el("p", { class: "hint", text: "e.g. only AppendEntries, while replies still flow. For one link: click the link." }),
        form),
      this.rulesHead, this.rules);
  }

  jitterText(v) {
    return v > 0 ? `+0–${v} ms` : "off";
  }

  render(snap) {
    const raft = snap.protocol === "raft";
    byId("script-net").hidden = !raft;
    if (!raft) return;
    const { rules, jitter } = networkScript(snap);
    if (document.activeElement !== this.jitter) {
      this.jitter.value = String(Math.min(jitter, JITTER_MAX));
      text(this.jitterOut, this.jitterText(jitter));
    }
    const ids = snap.nodes.map((n) => n.id).sort(byNodeId);
    if (ids.join() !== this.idsKey) {
      this.idsKey = ids.join();
      for (const s of [this.src, this.dst]) {
        const keep = s.value || "*";
        s.replaceChildren(el("option", { value: "*", text: "any server" }), ...ids.map((x) => el("option", { value: x, text: x })));
        s.value = ids.includes(keep) ? keep : "*";
      }
    }
    const rows = rules.flatMap((r) => r.kinds.map((k) => ({ key: `${r.src}>${r.dst}>${k}`, src: r.src, dst: r.dst, kind: k })));
    text(this.rulesHead, `Dropping now (${rows.length}):`);
    this.rulesHead.hidden = !rows.length;
    keyed(this.rules, rows, (r) => r.key, (r) => el("li", { "data-testid": "drop-rule", "data-kind": r.kind, "data-src": r.src, "data-dst": r.dst },
      el("span", { text: ruleText(r.src, r.dst, r.kind) }),
      el("button", { type: "button", class: "btn-small", "aria-label": `Remove: ${ruleText(r.src, r.dst, r.kind)}`, "data-testid": "drop-rule-remove", text: "Remove",
        onclick: () => this.setKind(r.src, r.dst, r.kind, false) })), () => {});
  }
}

let scripting = null;

/** ctx: store, command(cmd, opts). */
export function mount(ctx) {
  scripting = new Scripting(ctx);
  return scripting;
}

export function render(_root, snapshot) {
  scripting?.render(snapshot);
}

export function nodeButtons(n) {
  return scripting ? scripting.nodeButtons(n) : [];
}

export function linkSection(a, b, close) {
  return scripting ? scripting.linkSection(a, b, close) : null;
}

