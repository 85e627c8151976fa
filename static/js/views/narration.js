// "What happened": the narration events in plain words. Clicking one jumps there in time.
//
// The list is drawn newest-first in a `column-reverse` box, so it stays pinned to the newest
// event without reading layout (no scrollHeight per frame), and a reader who scrolled up keeps
// their place. It re-renders only when the events or the filter changed.

import { el, keyed } from "../dom.js";
import { ms } from "../format.js";

const KEY_KINDS = new Set(["election", "leader", "step_down", "fault", "network", "violation", "command", "settings", "client", "truncate"]);
const MAX_SHOWN = 150;
const KIND_TAG = {
  election: "election", leader: "leader", prevote: "pre-vote", prevote_lost: "pre-vote", vote: "vote",
  vote_refused: "refused", vote_ignored: "ignored", term: "term", step_down: "step down", append: "append",
  append_rejected: "rejected", truncate: "truncate", commit: "commit", read: "read", client: "client",
  fault: "fault", network: "network", settings: "settings", violation: "VIOLATION", command: "you",
};

class NarrationView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.key = "";
  }

  render(snap) {
    const keyOnly = this.ctx.keyOnly();
    const all = snap.events || [];
    const key = `${keyOnly}:${all.length}:${all.length ? all[0].seq : 0}:${all.length ? all[all.length - 1].seq : 0}`;
    if (key === this.key) return;
    this.key = key;
    let events = keyOnly ? all.filter((e) => KEY_KINDS.has(e.kind)) : all;
    events = events.slice(-MAX_SHOWN).reverse();
    keyed(this.root, events, (e) => e.seq, (e) => {
      const li = el("li", { class: `ev ev-${e.kind}` });
      const b = el("button", { type: "button", class: "ev-button", title: "Jump to this moment" },
        el("span", { class: "ev-time", text: ms(e.time) }),
        el("span", { class: "ev-body" },
          el("span", { class: "ev-tag", text: KIND_TAG[e.kind] || e.kind.replace(/_/g, " ") }),
          el("span", { class: "ev-text", text: ` ${e.text}` })));
      b.addEventListener("click", () => this.ctx.seek(e.time));
      li.append(b);
      return li;
    }, () => {});
  }
}

const views = new WeakMap();

/** ctx: seek(time), keyOnly() says whether to hide log and commit chatter. */
export function mount(root, ctx) {
  views.set(root, new NarrationView(root, ctx));
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}
