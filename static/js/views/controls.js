// The left panel: network presets and sliders, manual delivery with the list of messages in
// flight, the cluster's size/seed/reset, the protocol settings (teaching modes marked unsafe)
// and the background client load. Inputs show the server's values unless the user is editing.

import { byId, el, keyed, text } from "../dom.js";
import { byNodeId, percent } from "../format.js";

const MAX_LISTED = 60;

// Used when the server's hello has no settings_schema (docs/commands.md lists them).
const FALLBACK_SCHEMA = {
  election_timeout_min: { type: "number", label: "election timeout min (ms)", help: "shortest random election timeout" },
  election_timeout_max: { type: "number", label: "election timeout max (ms)", help: "longest random election timeout" },
  heartbeat_interval: { type: "number", label: "heartbeat (ms)", help: "how often an idle leader sends AppendEntries" },
  pre_vote: { type: "bool", label: "Pre-Vote", help: "ask for votes before raising the term (thesis 9.6)" },
  check_quorum: { type: "bool", label: "CheckQuorum", help: "a leader that cannot reach a majority steps down" },
  fast_backup: { type: "bool", label: "fast log backup", help: "followers hint the conflicting term to skip back faster" },
  noop_on_election: { type: "bool", label: "no-op on election", help: "a new leader appends a no-op to commit earlier terms" },
  no_majority: { type: "bool", teaching: true, label: "commit without a majority", help: "UNSAFE: a leader commits entries stored only on itself" },
  commit_old_terms: { type: "bool", teaching: true, label: "commit old terms by counting", help: "UNSAFE: the Figure 8 bug" },
  unsafe_lease: { type: "bool", teaching: true, label: "unsafe lease reads", help: "UNSAFE: lease reads ignore clock drift" },
};
const SHOWN_NUMBERS = ["election_timeout_min", "election_timeout_max", "heartbeat_interval"];

class Controls {
  constructor(ctx) {
    this.ctx = ctx;
    this.snap = null;
    this.inputs = new Map(); // setting name -> input
    this.schemaKey = "";
    this.drop = byId("net-drop");
    this.dup = byId("net-dup");
    this.lat = byId("net-lat");
    this.manual = byId("manual-toggle");
    this.inflight = byId("inflight");
    this.workload = byId("workload-rate");
    this.size = byId("cfg-size");
    this.seed = byId("cfg-seed");
    this.settingsBox = byId("settings");
    this.teachingBox = byId("teaching");
    this.inflightList = el("ol", { class: "inflight-list" });
    this.inflightHead = el("p", { class: "inflight-head" });
    this.inflight.append(this.inflightHead, this.inflightList);

    for (const input of [this.drop, this.dup, this.lat]) {
      input.addEventListener("input", () => this.showNetwork());
      input.addEventListener("change", () => this.sendNetwork());
    }
    this.manual.addEventListener("change", () => ctx.command({ type: "manual", on: this.manual.checked }));
    this.workload.addEventListener("input", () => text(byId("workload-out"), this.workloadText(Number(this.workload.value))));
    this.workload.addEventListener("change", () => ctx.command({ type: "workload", rate: Number(this.workload.value) }));
    byId("reset-form").addEventListener("submit", (e) => {
      e.preventDefault();
      ctx.reset(Number(this.size.value), Number(this.seed.value));
    });
    byId("preset-isolate").addEventListener("click", () => ctx.presetIsolate());
    byId("preset-split").addEventListener("click", () => ctx.presetSplit());
    byId("preset-heal").addEventListener("click", () => ctx.command({ type: "heal" }));
  }

  editing(input) {
    return document.activeElement === input || input.dataset.dirty === "1";
  }

  latency() {
    const max = Number(this.lat.value);
    return { latency_min: Math.max(1, Math.round(max / 2)), latency_max: max };
  }

  showNetwork() {
    text(byId("net-drop-out"), percent(Number(this.drop.value) / 100));
    text(byId("net-dup-out"), percent(Number(this.dup.value) / 100));
    const l = this.latency();
    text(byId("net-lat-out"), `${l.latency_min}–${l.latency_max} ms`);
  }

  sendNetwork() {
    this.ctx.command({ type: "network", ...this.latency(), drop: Number(this.drop.value) / 100, duplicate: Number(this.dup.value) / 100 });
  }

  workloadText(rate) {
    return rate > 0 ? `${rate} ops/s` : "off";
  }

  buildSettings(schema) {
    const entries = Object.entries(schema);
    const numbers = entries.filter(([k, s]) => s.type === "number" && (SHOWN_NUMBERS.includes(k) || !FALLBACK_SCHEMA[k]));
    const safe = entries.filter(([, s]) => s.type === "bool" && !s.teaching);
    const unsafe = entries.filter(([, s]) => s.type === "bool" && s.teaching);
    this.inputs.clear();
    const numberField = ([name, s]) => {
      const range = s.max === undefined ? {} : { max: s.max }; // the server's range (docs/commands.md)
      const input = el("input", { type: "number", id: `set-${name}`, min: s.min ?? 0, ...range, step: "any", "data-testid": `setting-${name}`, title: s.help || "" });
      input.addEventListener("change", () => {
        const v = Number(input.value);
        // 0 is meaningful for some settings (snapshot threshold: off); the server checks ranges.
        if (input.value !== "" && Number.isFinite(v) && v >= 0) this.ctx.command({ type: "settings", changes: { [name]: v } });
      });
      this.inputs.set(name, input);
      return [el("label", { for: `set-${name}`, text: s.label || name, title: s.help || "" }), input];
    };
    const boolField = ([name, s], teaching) => {
      const input = el("input", { type: "checkbox", id: `set-${name}`, "data-testid": `setting-${name}` });
      input.addEventListener("change", () => this.ctx.command({ type: "settings", changes: { [name]: input.checked } }));
      this.inputs.set(name, input);
      const label = teaching ? (s.label || name).replace(/^Teaching:\s*/i, "") : s.label || name;
      return el("label", { class: `check${teaching ? " check-unsafe" : ""}`, title: s.help || "" }, input,
        el("span", { text: label }), teaching ? el("span", { class: "unsafe-tag", text: "UNSAFE" }) : null);
    };
    this.settingsBox.replaceChildren(
      el("div", { class: "checks" }, ...safe.map((e) => boolField(e, false))),
      el("div", { class: "grid-form" }, ...numbers.flatMap(numberField)),
      el("p", { class: "hint", text: "Changes apply to the running cluster at once." }),
    );
    this.teachingBox.replaceChildren(
      el("p", { class: "unsafe-note", text: "⚠ Each breaks Raft's safety on purpose, to show why the rule exists." }),
      ...unsafe.map((e) => boolField(e, true)),
    );
  }

  render(snap) {
    this.snap = snap;
    const schema = this.ctx.schema();
    const useSchema = schema && Object.keys(schema).length ? schema : FALLBACK_SCHEMA;
    const key = Object.keys(useSchema).join();
    if (key !== this.schemaKey) {
      this.schemaKey = key;
      this.buildSettings(useSchema);
    }
    for (const [name, input] of this.inputs) {
      const v = snap.settings?.[name];
      if (v === undefined || document.activeElement === input) continue;
      if (input.type === "checkbox") input.checked = Boolean(v);
      else if (String(input.value) !== String(v)) input.value = String(v);
    }
    const d = snap.network?.defaults;
    if (d && ![this.drop, this.dup, this.lat].includes(document.activeElement)) {
      this.drop.value = String(Math.round((d.drop || 0) * 100));
      this.dup.value = String(Math.round((d.duplicate || 0) * 100));
      this.lat.value = String(Math.round(d.latency_max || 20));
      this.showNetwork();
      text(byId("net-lat-out"), `${d.latency_min}–${d.latency_max} ms`);
    }
    const manual = Boolean(snap.network?.manual);
    this.manual.checked = manual;
    this.inflight.hidden = !manual;
    if (manual) this.renderInflight(snap);
    if (document.activeElement !== this.workload) {
      const rate = snap.workload?.rate || 0;
      this.workload.value = String(rate);
      text(byId("workload-out"), this.workloadText(rate));
    }
    if (document.activeElement !== this.size && document.activeElement !== this.seed && !this.formTouched) {
      this.size.value = String(snap.size);
      this.seed.value = String(snap.seed);
    }
  }

  renderInflight(snap) {
    const msgs = (snap.messages || []).slice().sort((a, b) => a.id - b.id);
    const shown = msgs.slice(0, MAX_LISTED);
    text(this.inflightHead, msgs.length
      ? `${msgs.length} message${msgs.length > 1 ? "s" : ""} waiting${msgs.length > MAX_LISTED ? ` (first ${MAX_LISTED} shown)` : ""}: deliver or drop each one.`
      : "No messages in flight. Step or play: new ones will wait here.");
    // A keyboard user who delivered or dropped a message keeps their place: the focus moves to
    // the same button of the message that took its row.
    const focused = document.activeElement;
    const items = [...this.inflightList.children];
    const at = items.findIndex((li) => li.contains(focused));
    const which = at >= 0 ? focused.dataset.testid : null;
    keyed(this.inflightList, shown, (m) => m.id, (m) => {
      const deliver = el("button", { type: "button", class: "btn-small btn-primary", "data-testid": "inflight-deliver", text: "Deliver", onclick: () => this.ctx.command({ type: "deliver", id: m.id }) });
      const drop = el("button", { type: "button", class: "btn-small btn-danger", "data-testid": "inflight-drop", text: "Drop", onclick: () => this.ctx.command({ type: "drop", id: m.id }) });
      const label = el("button", { type: "button", class: "inflight-label", title: `${m.kind}: ${m.summary || ""}. Click to inspect.`, onclick: () => this.ctx.select("message", m.id) },
        el("span", { class: `kind-dot kd-${m.kind}`, "aria-hidden": "true" }),
        el("span", { class: "if-text" }, el("b", { text: `m${m.id} ${m.from}→${m.to}` }), el("small", { text: `${m.kind} · ${m.summary || ""}` })));
      const li = el("li", { "data-testid": "inflight-item", "data-id": m.id }, label, deliver, drop);
      return li;
    }, (li, m) => {
      li.classList.toggle("selected", this.ctx.isSelected("message", m.id));
    });
    if (which && !this.inflightList.contains(document.activeElement)) {
      const rows = this.inflightList.children;
      const row = rows[Math.min(at, rows.length - 1)];
      const target = row?.querySelector(`[data-testid="${which}"]`) || this.inflightHead;
      if (target === this.inflightHead) attr(target, "tabindex", "-1");
      target.focus({ preventScroll: true });
    }
  }
}

let controls = null;

/**
 * ctx: command(cmd), reset(size, seed), presetIsolate(), presetSplit(), select(type, id),
 * isSelected(type, id), schema() -> settings_schema from hello.
 */
export function mount(ctx) {
  controls = new Controls(ctx);
  const markTouched = () => { controls.formTouched = true; };
  byId("cfg-size").addEventListener("input", markTouched);
  byId("cfg-seed").addEventListener("input", markTouched);
  byId("reset-form").addEventListener("submit", () => { controls.formTouched = false; });
  return controls;
}

export function render(_root, snapshot) {
  controls?.render(snapshot);
}

/** The split preset: the leader plus a few on the minority side, the rest the majority. */
export function splitGroups(ids, leader) {
  const order = ids.slice().sort(byNodeId);
  const start = leader ? order.indexOf(leader) : 0;
  const rotated = order.slice(start).concat(order.slice(0, start));
  const minority = Math.ceil(order.length / 2) - 1;
  return [rotated.slice(0, minority).sort(byNodeId), rotated.slice(minority).sort(byNodeId)];
}
