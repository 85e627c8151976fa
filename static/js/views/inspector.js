// The inspector: the full state of the selected server, or the payload of the selected message.
// Updated in place (rows keyed by label), so buttons stay clickable while frames stream in.

import { attr, el, keyed, text } from "../dom.js";
import { byNodeId, ms } from "../format.js";
import * as membership from "./membership.js";
import * as paxos from "./paxos.js";

function nodeRows(n) {
  const rows = [
    ["term", n.term, "insp-term"],
    ["voted for", n.voted_for ?? "nobody"],
    ["knows leader", n.leader_id ?? "unknown"],
    ["log length", n.log_length],
    ["commit index", n.commit_index, "insp-commit"],
    ["last applied", n.last_applied],
    ...(n.snapshot ? [["snapshot", `through index ${n.snapshot.last_included_index} (term ${n.snapshot.last_included_term})`]] : []),
    ...(n.snapshot_download ? [["receiving snapshot", `through index ${n.snapshot_download.last_included_index}: ${n.snapshot_download.received}/${n.snapshot_download.size} bytes`]] : []),
    ["clock", `${ms(n.clock?.local)}${n.clock && n.clock.rate !== 1 ? ` (runs at ${n.clock.rate}×)` : ""}${n.clock?.frozen ? ", frozen" : ""}`],
    ["restarts", n.incarnation ?? 0],
  ];
  if (n.election) {
    rows.push(["election timer", `${ms(n.election.elapsed)} of ${ms(n.election.timeout)} (${Math.round(n.election.fraction * 100)} %)`]);
    rows.push(["times out at", ms(n.election.deadline)]);
  }
  if (n.role === "candidate" || n.role === "pre-candidate") {
    rows.push(["votes granted", (n.votes || []).join(", ") || "none"]);
    rows.push(["votes refused", (n.votes_refused || []).join(", ") || "none"]);
  }
  if (n.state === "paused") rows.push(["messages waiting", n.inbox ?? 0]);
  if (n.disk) rows.push(...diskRows(n.disk));
  rows.push(...membership.rows(n));
  const ls = n.leader_state;
  if (ls) {
    rows.push(["next heartbeat", `in ${ms(ls.heartbeat_in)}`]);
    rows.push(["lease", ls.lease_remaining > 0 ? `valid for ${ms(ls.lease_remaining)}` : "none"]);
    rows.push(["reads waiting", ls.pending_reads ?? 0]);
    for (const [peer, send] of Object.entries(ls.snapshot_sends || {})) {
      rows.push([`snapshot to ${peer}`, `through index ${send.last_included_index}: ${send.offset}/${send.size} bytes acknowledged`]);
    }
  }
  return rows;
}

function diskRows(d) {
  const w = d.writing;
  const vote = (v) => v ?? "nobody";
  const entries = (k) => `${k} entr${k === 1 ? "y" : "ies"}`;
  return [
    ["disk", `fsync ${ms(d.fsync_ms)}${d.slow ? " (SLOW DISK)" : ""}`, "insp-disk"],
    ["pending write", w ? `term ${w.term}, vote ${vote(w.voted_for)}, ${entries(w.log_length)}: done in ${ms(w.remaining)}, ${w.held} message${w.held === 1 ? "" : "s"} held${d.queued != null ? `; ${d.queued} more wait for the next write` : ""}` : "none", "insp-pending-write"],
    ["on disk", `term ${d.durable.term}, vote ${vote(d.durable.voted_for)}, ${entries(d.durable.log_length)}`],
  ];
}

function messageRows(snap, m) {
  const lost = m.lost_at !== undefined;
  const status = lost ? `lost at ${ms(m.lost_at)}: ${m.why || "dropped"}`
    : m.progress >= 1 && snap.network?.manual ? "waiting for you (manual delivery)"
      : `in flight, ${Math.round((m.progress || 0) * 100)} % of the way`;
  const notes = [m.doomed ? "will be lost on arrival (random loss)" : "", m.duplicate ? "a duplicate copy" : ""].filter(Boolean).join("; ");
  return [
    ["kind", m.kind],
    ["from → to", `${m.from} → ${m.to}`],
    [snap.protocol === "paxos" ? "ballot round" : "term", m.term],
    ["payload", m.summary || ""],
    ["sent", ms(m.sent)],
    ["arrives", ms(m.deliver)],
    ["status", status, "insp-status"],
    ["notes", notes || "–"],
  ];
}

class Inspector {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.chip = el("span", { class: "role-chip" });
    this.title = el("h3", { "data-testid": "inspector-title" });
    this.actions = el("div", { class: "insp-actions" });
    this.dl = el("dl", { class: "kv-list" });
    this.tableBody = el("tbody");
    this.table = el("table", { class: "mini-table", "data-testid": "follower-table" },
      el("caption", { text: "What the leader knows about each follower" }),
      el("thead", {}, el("tr", {}, el("th", { text: "follower" }), el("th", { text: "next" }), el("th", { text: "match" }), el("th", { text: "behind" }))),
      this.tableBody);
    this.empty = el("div", { class: "empty" },
      el("p", { text: "Click a server for its full state and actions, or a message for its payload." }),
      el("h2", { class: "pane-title", text: "Things to try" }),
      el("ul", { class: "try-list" },
        el("li", { text: "Crash the leader: click it, then Crash (or press its number, then c). Who wins the next election, and in which term?" }),
        el("li", { text: "Write a value: click the leader, then Write. Watch the entry go dashed → solid in the logs as a majority stores it." }),
        el("li", { text: "Split the network: drag a server to the right edge, then another onto it. Can the two-server side elect a leader?" }),
        el("li", { text: "Turn on manual delivery and deliver votes one by one to decide who wins." }),
        el("li", { text: "Turn on a teaching mode (Cluster panel) and make the Safety tab go red." })),
      el("p", { class: "hint", text: "Keys: 1…9 select a server, space plays, ? shows every shortcut." }));
    this.body = el("div", {}, el("div", { class: "insp-head" }, this.chip, this.title), this.actions, this.dl, this.table);
    this.body.hidden = true; // until a server or message is selected (no empty heading)
    this.actionsKey = "";
    root.append(this.empty, this.body);
  }

  render(snap) {
    if (!snap) return;
    const sel = this.ctx.selection();
    let rows = null;
    let actionsKey = "";
    let buildActions = null;
    let peers = null;
    if (sel?.type === "node") {
      const n = snap.nodes.find((x) => x.id === sel.id);
      if (n) {
        const role = n.state === "crashed" ? "crashed" : n.role;
        attr(this.chip, "class", `role-chip role-${n.role} state-${n.state}`);
        text(this.chip, n.state === "paused" ? `paused · ${role}` : role);
        text(this.title, n.id);
        rows = paxos.isPaxos(snap) ? paxos.inspectorRows(n, snap, ms) : nodeRows(n);
        if (paxos.isPaxos(snap)) text(this.chip, n.state === "crashed" ? "crashed" : paxos.roleWord(n, snap).replace(/ \(.*\)$/, "").toLowerCase());
        actionsKey = `node:${n.id}:${n.state}:${n.membership}:${n.id === snap.leader}:${!!snap.leader}:${n.disk?.slow ?? ""}`;
        buildActions = () => this.ctx.nodeActions(n.id);
        const ls = n.leader_state;
        if (ls?.next_index) {
          peers = Object.keys(ls.next_index || {}).sort(byNodeId).map((p) => ({
            p, next: ls.next_index[p], match: ls.match_index?.[p] ?? 0, lag: ls.lag?.[p] ?? 0,
          }));
        }
      }
    } else if (sel?.type === "message") {
      const m = (snap.messages || []).find((x) => x.id === sel.id) || (snap.dropped || []).find((x) => x.id === sel.id);
      if (m) {
        attr(this.chip, "class", `role-chip msg-chip ${m.reply ? "reply" : "request"}`);
        text(this.chip, m.reply ? "reply" : "request");
        text(this.title, `${m.kind} m${m.id}`);
        rows = messageRows(snap, m);
        const inFlight = (snap.messages || []).some((x) => x.id === m.id);
        actionsKey = `msg:${m.id}:${inFlight}`;
        buildActions = () => (inFlight ? this.ctx.messageActions(m.id) : []);
      } else {
        attr(this.chip, "class", "role-chip");
        text(this.chip, "gone");
        text(this.title, `message m${sel.id}`);
        rows = [["status", "arrived or lost: no longer in flight"]];
        actionsKey = "gone";
        buildActions = () => [];
      }
    }
    this.empty.hidden = Boolean(rows);
    this.body.hidden = !rows;
    if (!rows) return;
    if (actionsKey !== this.actionsKey) {
      this.actionsKey = actionsKey;
      this.actions.replaceChildren(...buildActions());
    }
    keyed(this.dl, rows, (r) => r[0], (r) => {
      const dd = el("dd", r[2] ? { "data-testid": r[2] } : {});
      const div = el("div", { class: "kv-row" }, el("dt", { text: r[0] }), dd);
      div.dd = dd;
      return div;
    }, (div, r) => text(div.dd, r[1]));
    this.table.hidden = !peers;
    if (peers) {
      keyed(this.tableBody, peers, (x) => x.p, () => el("tr", {}, el("td"), el("td"), el("td"), el("td")), (tr, x) => {
        attr(tr, "class", x.lag > 0 ? "lagging" : "");
        const [a, b, c, d] = tr.children;
        text(a, x.p);
        text(b, x.next);
        text(c, x.match);
        text(d, x.lag > 0 ? `${x.lag} behind` : "up to date");
      });
    }
  }
}

const views = new WeakMap();

/** ctx: selection(), nodeActions(id) and messageActions(id) return arrays of buttons. */
export function mount(root, ctx) {
  views.set(root, new Inspector(root, ctx));
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}
