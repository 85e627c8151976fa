// What the last single step changed, highlighted where it shows: the server in the cluster (a
// ring and a note), its row and new entries in the logs, and the changed rows of the inspector
// (with the value before). The server computes it (the frame's `changed` block,
// docs/snapshot.md); this module only marks the elements the other views drew, after they drew.

import { byId, el } from "../dom.js";

const FIELD_WORD = { role: "role", term: "term", voted_for: "voted for", commit_index: "commit index" };
const INSPECTOR_ROW = { term: "term", voted_for: "voted for", commit_index: "commit index" };

let marked = [];
let note = null;

function mark(node, cls, was) {
  if (!node) return;
  node.classList.add(cls);
  if (was !== undefined) node.setAttribute("data-was", was);
  marked.push([node, cls]);
}

function clear() {
  for (const [node, cls] of marked) {
    node.classList.remove(cls);
    node.removeAttribute("data-was");
  }
  marked = [];
}

function show(v) {
  return v === null || v === undefined ? "nobody" : String(v);
}

function describe(id, what, paxos) {
  const parts = [];
  for (const [field, word] of Object.entries(FIELD_WORD)) {
    if (!what[field]) continue;
    const label = paxos && field === "voted_for" ? "promised" : paxos && field === "term" ? "ballot round" : word;
    parts.push(`${label} ${show(what[field][0])} → ${show(what[field][1])}`);
  }
  const log = what.log;
  if (log?.slots) parts.push(`accepted slot${log.slots.length > 1 ? "s" : ""} ${log.slots.join(", ")}`);
  else if (log) {
    const added = log.to >= log.from ? `entr${log.to > log.from ? "ies" : "y"} ${log.from}${log.to > log.from ? `–${log.to}` : ""}` : "";
    parts.push([log.removed ? `removed entries from ${log.from}` : "", added ? `${log.removed ? "then " : ""}appended ${added}` : ""].filter(Boolean).join(", "));
  }
  return `${id}: ${parts.join("; ")}`;
}

/** Mark what the frame's `changed` block names; called after every view rendered. */
export function render(snap, root) {
  clear();
  const changed = snap?.changed;
  if (!note) {
    note = el("div", { class: "step-note", "data-testid": "step-changes", hidden: true, "aria-live": "polite" });
    root.append(note);
  }
  const entries = changed ? Object.entries(changed) : [];
  note.hidden = entries.length === 0;
  if (!entries.length) return;
  const paxos = snap.protocol === "paxos";
  note.replaceChildren(el("b", { text: "This step changed" }),
    ...entries.map(([id, what]) => el("div", { "data-node": id, text: describe(id, what, paxos) })));
  for (const [id, what] of entries) {
    mark(document.querySelector(`#cluster [data-testid="node-${id}"]`), "chg");
    const label = document.querySelector(`#logs [data-testid="log-row-${id}"]`);
    mark(label, "chg");
    const log = what.log;
    if (log) {
      const indexes = log.slots || Array.from({ length: Math.max(0, log.to - log.from + 1) }, (_, k) => log.from + k);
      for (const i of indexes) mark(document.querySelector(`#logs .log-row[data-node="${id}"] .cell[data-index="${i}"]`), "cell-chg");
    }
  }
  const title = byId("pane-inspect")?.querySelector('[data-testid="inspector-title"]');
  const selected = title ? changed[title.textContent] : null;
  if (selected) {
    for (const row of byId("pane-inspect").querySelectorAll(".kv-row")) {
      const dt = row.querySelector("dt")?.textContent;
      const field = Object.keys(INSPECTOR_ROW).find((f) => INSPECTOR_ROW[f] === dt);
      const dd = row.querySelector("dd");
      if (field && selected[field]) {
        mark(row, "chg");
        mark(dd, "chg", `was ${show(selected[field][0])}`);
      }
      if (dt === "log length" && selected.log) {
        mark(row, "chg");
        mark(dd, "chg", selected.log.removed ? "entries replaced" : "entries added");
      }
    }
  }
}

export function marks() {
  return marked.map(([node, cls]) => ({ cls, testid: node.getAttribute("data-testid"), index: node.getAttribute("data-index"), was: node.getAttribute("data-was") }));
}


