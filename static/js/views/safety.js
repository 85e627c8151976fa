// The safety panel: every invariant with a live ✓ / ✗ (words and icons, not colour alone), the
// first violation's explanation with a "jump to the moment" button, the linearizability
// checker's verdict, and the page banner for unsafe teaching modes.

import { attr, byId, el, keyed, text } from "../dom.js";
import { ms } from "../format.js";

const TEACHING_TEXT = {
  no_majority: "a leader commits without a majority",
  commit_old_terms: "leaders commit entries of old terms by counting replicas (Figure 8 bug)",
  unsafe_lease: "lease reads ignore clock drift",
  clock_beyond_bound: "a server's clock drifts past the lease bound",
  forgetful_acceptors: "acceptors forget their promises when they crash",
  ignore_promised_values: "proposers ignore values reported in phase 1",
};

class SafetyView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.lin = el("div", { class: "lin", "data-testid": "linearizability" });
    this.list = el("ul", { class: "inv-list", "data-testid": "invariants" });
    root.append(el("h2", { class: "pane-title", text: "Safety invariants (checked after every event)" }), this.list,
      el("h2", { class: "pane-title", text: "Client-visible consistency" }), this.lin);
  }

  render(snap) {
    const inv = snap.invariants || {};
    const names = Object.keys(inv);
    keyed(this.list, names, (n) => n, (name) => {
      const li = el("li", { class: "inv", "data-testid": `invariant-${slug(name)}` });
      li.icon = el("span", { class: "inv-icon", "aria-hidden": "true" });
      li.name = el("span", { class: "inv-name", text: name });
      li.state = el("span", { class: "inv-state" });
      li.statement = el("p", { class: "inv-statement" });
      li.detail = el("p", { class: "inv-detail" });
      li.jump = el("button", { type: "button", class: "btn-danger btn-small", "data-testid": `jump-${slug(name)}` });
      li.jump.addEventListener("click", () => {
        if (li.firstTime !== undefined) this.ctx.seek(li.firstTime);
      });
      li.append(el("div", { class: "inv-line" }, li.icon, li.name, li.state), li.statement, li.detail, li.jump);
      return li;
    }, (li, name) => {
      const s = inv[name];
      attr(li, "class", `inv ${s.ok ? "inv-ok" : "inv-bad"}`);
      attr(li, "data-ok", s.ok ? "true" : "false");
      text(li.icon, s.ok ? "✓" : "✗");
      text(li.state, s.ok ? "holds" : `VIOLATED ×${s.count}`);
      text(li.statement, s.statement || "");
      const first = s.first;
      li.detail.hidden = !first;
      li.jump.hidden = !first;
      if (first) {
        li.firstTime = first.time;
        text(li.detail, first.text || "");
        text(li.jump, `Jump to the moment (${ms(first.time)})`);
      }
    });
    const lin = snap.linearizability || {};
    const ok = lin.verdict ? lin.verdict === "linearizable" : lin.ok !== false;
    attr(this.lin, "class", `lin ${ok ? "inv-ok" : "inv-bad"}`);
    attr(this.lin, "data-ok", ok ? "true" : "false");
    const notes = (lin.notes || []).length ? ` (${lin.notes.join("; ")})` : "";
    text(this.lin, `${ok ? "✓" : "✗"} ${lin.message || (ok ? "linearizable so far" : "NOT linearizable")}${notes}`);

    const bad = names.filter((n) => !inv[n].ok);
    const chip = byId("safety-chip");
    attr(chip, "class", `chip ${bad.length || !ok ? "chip-bad" : "chip-ok"}`);
    attr(chip, "data-ok", bad.length ? "false" : "true");
    text(chip, bad.length ? `✗ ${bad.length} invariant${bad.length > 1 ? "s" : ""} violated` : `✓ ${names.length} invariants hold`);

    const modes = [...(snap.teaching_modes || [])];
    const banner = byId("banner");
    banner.hidden = modes.length === 0;
    if (modes.length) {
      const drift = (snap.clock_beyond_bound || []).join(", ");
      const parts = modes.map((m) => (m === "clock_beyond_bound" && drift ? `${TEACHING_TEXT[m]} (${drift})` : `${m}: ${TEACHING_TEXT[m] || "breaks safety on purpose"}`));
      text(banner, `⚠ UNSAFE teaching mode: ${parts.join(" · ")}. Safety violations are expected.`);
    }
  }
}

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

const views = new WeakMap();

/** ctx: seek(time). */
export function mount(root, ctx) {
  views.set(root, new SafetyView(root, ctx));
}

export function render(root, snapshot) {
  views.get(root)?.render(snapshot);
}
