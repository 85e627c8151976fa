// The latest snapshot, patched by the server's frames. Views read state only from here.
//
// A full frame replaces everything; a delta frame carries each node's log as a change
// (`log_from` + entries), only the narration events, operations and milestones newer than the
// previous frame, and leaves out top-level fields that did not change (docs/protocol.md). The
// store keeps the whole known log of every node, the recent events and all milestones, so views
// always see a complete snapshot in `store.snapshot` (with `node.log` the node's known entries,
// in index order, and `node.log_start` the index of the first one).

const MAX_EVENTS = 800;
const MAX_SAMPLES = 1200;
const MAX_OPS = 50;
const MAX_MILESTONES = 2000;

function appendBySeq(held, incoming, max) {
  const out = held.slice();
  const last = out.length ? out[out.length - 1].seq : -Infinity;
  for (const item of Array.isArray(incoming) ? incoming : []) if (item.seq > last) out.push(item);
  return out.length > max ? out.slice(-max) : out;
}

export class Store {
  constructor() {
    this.snapshot = null;
    this.hello = null;
    this.logs = new Map(); // node id -> {start, entries}
    this.events = [];
    this.samples = []; // metric samples, one per frame, ordered by simulated time
    this.selected = null; // {type: "node" | "message", id}
    this.listeners = new Set();
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(reason) {
    for (const fn of this.listeners) fn(reason);
  }

  select(selection) {
    this.selected = selection;
    this.notify("select");
  }

  /** Apply one frame. Returns false when it cannot be applied (a delta first: resync). */
  applyFrame(frame) {
    if (!frame || typeof frame !== "object" || !Array.isArray(frame.nodes)) return false;
    if (!frame.full && !this.snapshot) return false;
    if (frame.full) this.logs.clear();
    const ids = new Set();
    for (const node of frame.nodes) {
      ids.add(node.id);
      this.patchLog(node, Boolean(frame.full));
    }
    for (const id of [...this.logs.keys()]) if (!ids.has(id)) this.logs.delete(id);

    const prev = this.snapshot;
    // Events and milestones: a delta carries only the new ones (append), a full frame the latest.
    this.events = appendBySeq(frame.full ? [] : this.events, frame.events, MAX_EVENTS);
    frame.events = this.events;
    frame.milestones = appendBySeq(frame.full || !prev ? [] : prev.milestones || [], frame.milestones, MAX_MILESTONES);
    if (!frame.full && prev) {
      // A delta leaves out top-level fields that did not change, and carries only new ops.
      for (const key of Object.keys(prev)) if (!(key in frame)) frame[key] = prev[key];
      if (Array.isArray(frame.ops) && frame.ops !== prev.ops) {
        const seen = new Set((prev.ops || []).map((o) => o.op_id));
        frame.ops = (prev.ops || []).concat(frame.ops.filter((o) => !seen.has(o.op_id))).slice(-MAX_OPS);
      }
    }
    this.snapshot = frame;
    this.sample(frame);
    if (this.selected?.type === "message" && !this.findMessage(this.selected.id)) {
      this.selected = { ...this.selected, gone: true };
    }
    this.notify("frame");
    return true;
  }

  /**
   * Patch a node's known log with its frame's change: drop every entry with index >= log_from,
   * then append the frame's entries. Entries are kept by index (a Paxos log may have gaps).
   */
  patchLog(node, full) {
    const from = Number.isInteger(node.log_from) ? node.log_from : 1;
    const delta = Array.isArray(node.log) ? node.log : [];
    let known = this.logs.get(node.id);
    if (full || !known) {
      known = { entries: delta.slice() };
      this.logs.set(node.id, known);
    } else {
      const entries = known.entries;
      let keep = entries.length;
      while (keep > 0 && entries[keep - 1][0] >= from) keep -= 1;
      entries.length = keep;
      for (const entry of delta) entries.push(entry);
    }
    // Entries a snapshot has compacted away (section 7) are gone from the node: drop them too.
    const compacted = node.snapshot?.last_included_index ?? 0;
    if (compacted && known.entries.length && known.entries[0][0] <= compacted) {
      const cut = known.entries.findIndex((e) => e[0] > compacted);
      known.entries.splice(0, cut < 0 ? known.entries.length : cut);
    }
    node.log = known.entries;
    node.log_start = known.entries.length ? known.entries[0][0] : Math.max(from, compacted + 1);
  }

  sample(frame) {
    const m = frame.metrics || {};
    const point = {
      t: frame.time,
      elections: m.elections ?? 0,
      leader_changes: m.leader_changes ?? 0,
      no_leader_ms: m.no_leader_ms ?? 0,
      sent: m.messages_sent ?? 0,
      dropped: m.messages_dropped ?? 0,
      in_flight: m.in_flight ?? (frame.messages || []).length,
      lag: { ...(m.replication_lag || {}) },
    };
    const s = this.samples;
    while (s.length && s[s.length - 1].t > point.t) s.pop(); // jumped back: forget the future
    if (s.length && s[s.length - 1].t === point.t) s[s.length - 1] = point;
    else s.push(point);
    if (s.length > MAX_SAMPLES) s.splice(0, s.length - MAX_SAMPLES);
  }

  node(id) {
    return this.snapshot?.nodes.find((n) => n.id === id) || null;
  }

  findMessage(id) {
    const snap = this.snapshot;
    if (!snap) return null;
    return (snap.messages || []).find((m) => m.id === id)
      || (snap.dropped || []).find((m) => m.id === id) || null;
  }

  /** Ids of the cluster's servers, in order. */
  nodeIds() {
    return this.snapshot ? this.snapshot.nodes.map((n) => n.id) : [];
  }
}
