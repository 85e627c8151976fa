// The data every server holds: its key-value map and locks in one compact table (servers are
// rows, keys are columns), plus the clients' latest operations.

import { attr, el, keyed, text } from "../dom.js";
import { ms } from "../format.js";

class DataView {
  constructor(root) {
    this.root = root;
    this.thead = el("tr");
    this.tbody = el("tbody");
    this.table = el("table", { class: "mini-table kv-table", "data-testid": "kv-table" }, el("thead", {}, this.thead), this.tbody);
    this.ops = el("ol", { class: "ops", "data-testid": "ops" });
    this.locks = el("p", { class: "hint" });
    root.append(el("h2", { class: "pane-title", text: "Key-value state on each server" }),
      el("div", { class: "table-scroll" }, this.table), this.locks,
      el("h2", { class: "pane-title", text: "Latest client operations" }), this.ops);
  }

  render(snap) {
    const keys = [...new Set(snap.nodes.flatMap((n) => Object.keys(n.kv || {})))].sort().slice(0, 24);
    const lockNames = [...new Set(snap.nodes.flatMap((n) => Object.keys(n.locks || {})))].sort();
    const header = ["server", ...keys, ...(lockNames.length ? ["locks"] : [])];
    keyed(this.thead, header, (h) => h, (h) => el("th", { text: h }), () => {});
    const leader = snap.nodes.find((n) => n.id === snap.leader);
    keyed(this.tbody, snap.nodes, (n) => n.id, () => el("tr"), (tr, n) => {
      const cells = [n.id, ...keys.map((k) => n.kv?.[k] ?? "–")];
      if (lockNames.length) {
        cells.push(Object.entries(n.locks || {}).map(([name, l]) => `${name}: ${l.holder ?? "free"}${l.token ? ` #${l.token}` : ""}${l.expired ? " (expired)" : ""}`).join("; ") || "–");
      }
      while (tr.childElementCount > cells.length) tr.lastChild.remove();
      while (tr.childElementCount < cells.length) tr.append(el("td"));
      cells.forEach((c, i) => {
        const td = tr.children[i];
        text(td, c);
        const stale = i > 0 && i <= keys.length && leader && n.id !== leader.id && n.state !== "crashed"
          && (leader.kv?.[keys[i - 1]] ?? "–") !== c;
        attr(td, "class", stale ? "stale" : "");
        if (stale) attr(td, "title", `differs from the leader (${leader.kv?.[keys[i - 1]] ?? "–"})`);
        else td.removeAttribute("title");
      });
      attr(tr, "class", `state-${n.state}${n.id === snap.leader ? " is-leader" : ""}`);
      attr(tr, "data-testid", `kv-row-${n.id}`);
    });
    text(this.locks, keys.length ? "≠ marks a value that differs from the leader's (hover for the leader's value). A crashed server's memory is empty until it restarts and replays its log." : "No keys yet: write one from a server's menu (w).");
    const ops = (snap.ops || []).slice(-12).reverse();
    const items = ops.length ? ops : [{ op_id: "none" }];
    keyed(this.ops, items, (o) => o.op_id, () => el("li"), (li, o) => {
      if (o.op_id === "none") {
        attr(li, "class", "empty");
        text(li, "No operations yet.");
        return;
      }
      attr(li, "class", `op op-${o.status}`);
      const mode = o.command.startsWith("GET") ? ` (${o.read_mode})` : "";
      const icon = o.status === "ok" ? "✓" : o.status === "failed" ? "✗" : "?";
      text(li, `${icon} ${o.client}: ${o.command}${mode} → ${o.result ?? o.error ?? o.status} · ${ms(o.invoke)}${o.complete != null ? `–${ms(o.complete)}` : ""}${o.node ? ` via ${o.node}` : ""}`);
    });
  }
}

const views = new WeakMap();

export function mount(root) {
  views.set(root, new DataView(root));
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}
