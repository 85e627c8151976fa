// The guided-lesson player and interview mode (docs/lessons.md, docs/ui.md "Lessons").
//
// The server runs the lesson (raftviz/web/lesson_events.py) and sends its state; this module
// draws the picker and the player and sends the learner's choices. Fields ending in `_html` are
// safe HTML from the server's render_markdown and go in through a <template>; everything else
// (titles, ids, errors, the learner's own answer) goes in as text.

import { byId, el, text } from "../dom.js";
import { toast } from "../toast.js";

const PROGRESS_KEY = "raftviz.lessons";
const ACK_TIMEOUT_MS = 65000;

let socket = null;
let state = null; // the runner's state while a lesson runs, else null
let catalog = null;
let collapsed = false;
let outlineOpen = false;
let busy = false;
let checking = false; // a lesson_state sent after a full frame
let pausing = false; // a pause sent because a prediction waits
const picked = new Map(); // question id -> chosen value (before "Run it" / "Check")
let results = new Map(); // question id -> grading from lesson_answer (this step)
let getTime = () => null;
let seekTo = (time) => call("player", { action: "seek", time: Math.max(0, Number(time) || 0) });

// ------------------------------------------------------------------ helpers

/** Put server-rendered safe HTML (render_markdown output) into `node`. */
function setHtml(node, markup) {
  const t = document.createElement("template");
  t.innerHTML = typeof markup === "string" ? markup : "";
  node.replaceChildren(t.content);
  return node;
}

const htmlEl = (tag, attrs, markup) => setHtml(el(tag, attrs), markup);

function call(event, payload = {}) {
  return new Promise((resolve) => {
    if (!socket) {
      resolve({ ok: false, error: "not connected" });
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err) resolve({ ok: false, error: "the server did not answer in time" });
      else resolve(ack && typeof ack === "object" ? ack : { ok: false, error: "no answer" });
    });
  });
}

/** Send a lesson event; show a refusal; apply the state it carries. */
async function act(event, payload) {
  if (busy) return null;
  busy = true;
  render();
  try {
    const ack = await call(event, payload);
    if (!ack.ok) toast(String(ack.error || "the server refused"));
    else if (ack.state !== undefined) setState(ack.state);
    return ack;
  } finally {
    busy = false;
    render();
  }
}

function readProgress() {
  try {
    const data = JSON.parse(localStorage.getItem(PROGRESS_KEY) || "{}");
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

function saveProgress(id, update) {
  const all = readProgress();
  const mine = all[id] && typeof all[id] === "object" ? all[id] : {};
  all[id] = update(mine);
  try {
    localStorage.setItem(PROGRESS_KEY, JSON.stringify(all));
  } catch {
    /* storage off: progress lasts this visit */
  }
}

function recordProgress(s) {
  const step = s.step;
  const complete = step.tasks.every((t) => t.done) && step.questions.every((q) => q.result);
  saveProgress(s.lesson.id, (mine) => {
    const done = new Set(Array.isArray(mine.done) ? mine.done : []);
    if (complete) done.add(step.index);
    const out = { ...mine, done: [...done].sort((a, b) => a - b), steps: s.lesson.steps };
    if (s.progress.questions_answered) {
      out.answered = s.progress.questions_answered;
      out.correct = s.progress.questions_correct;
    }
    return out;
  });
}

function setUrl(s) {
  const url = new URL(location.href);
  if (s?.started) {
    url.searchParams.set("lesson", s.lesson.id);
    url.searchParams.set("step", String(s.step.index));
  } else {
    url.searchParams.delete("lesson");
    url.searchParams.delete("step");
  }
  if (url.href !== location.href) history.replaceState(null, "", url.href);
}

function deepLink(s) {
  const url = new URL(location.pathname, location.origin);
  url.searchParams.set("lesson", s.lesson.id);
  url.searchParams.set("step", String(s.step.index));
  return url.href;
}

function setState(next) {
  const before = state?.started ? `${state.lesson.id}/${state.step.index}` : null;
  state = next && next.started ? next : null;
  const now = state ? `${state.lesson.id}/${state.step.index}` : null;
  if (now !== before) {
    picked.clear();
    results = new Map();
    if (state) collapsed = false;
  }
  if (state) {
    for (const q of state.step.questions) if (q.result) results.set(q.id, q.result);
    recordProgress(state);
  }
  document.body.classList.toggle("lesson-on", Boolean(state));
  setUrl(state);
  render();
}

// ------------------------------------------------------------------- picker

function openPicker() {
  const dialog = byId("lesson-picker");
  dialog.hidden = false;
  renderPicker();
  if (!catalog) {
    call("lesson_list").then((ack) => {
      if (!ack.ok) {
        toast(String(ack.error));
        return;
      }
      catalog = ack.catalog;
      renderPicker();
    });
  }
  byId("lesson-picker-close")?.focus();
}

function closePicker() {
  byId("lesson-picker").hidden = true;
}

function pickerItem(entry) {
  const progress = readProgress()[entry.id] || {};
  const done = Array.isArray(progress.done) ? progress.done.length : 0;
  let note = `${entry.minutes} min · ${entry.steps} step${entry.steps === 1 ? "" : "s"}`;
  if (entry.kind === "interview" && progress.answered) note = `${entry.minutes} min · ${progress.correct} of ${progress.answered} right`;
  else if (done) note += ` · ${done} of ${entry.steps} done`;
  const button = el(
    "button",
    {
      type: "button",
      class: `lesson-item${done >= entry.steps ? " lesson-item-done" : ""}`,
      "data-testid": `lesson-item-${entry.id}`,
      onclick: async () => {
        closePicker();
        await act("lesson_start", { id: entry.id });
      },
    },
    el("span", { class: "lesson-item-title", text: (done >= entry.steps ? "✓ " : "") + entry.title }),
    el("span", { class: "lesson-item-summary", text: entry.summary }),
    el("span", { class: "lesson-item-note", text: note }),
  );
  return el("li", {}, button);
}

function renderPicker() {
  const body = byId("lesson-picker-body");
  if (!catalog) {
    body.replaceChildren(el("p", { class: "hint", text: "Loading the lessons…" }));
    return;
  }
  const groups = [];
  const group = (title, entries, testid) => {
    if (!entries.length) return;
    groups.push(el("h3", { text: title }), el("ol", { class: "lesson-list", "data-testid": testid }, ...entries.map(pickerItem)));
  };
  group("Lessons", catalog.lessons, "lesson-group-lessons");
  group("Interview cards", catalog.interview, "lesson-group-interview");
  if (catalog.unavailable.length) {
    groups.push(
      el("h3", { text: "Unavailable" }),
      el(
        "ul",
        { class: "lesson-list lesson-unavailable", "data-testid": "lesson-group-unavailable" },
        ...catalog.unavailable.map((u) =>
          el("li", { class: "lesson-item lesson-item-off", "aria-disabled": "true" },
            el("span", { class: "lesson-item-title", text: u.file }),
            el("span", { class: "lesson-item-note", text: u.errors.join("\n") })),
        ),
      ),
    );
  }
  body.replaceChildren(...groups);
}

// ------------------------------------------------------------------- player

function taskRow(task) {
  const mark = task.done ? "✓" : "○";
  const by = task.done_by === "lesson" ? " (shown)" : "";
  const row = el(
    "li",
    { class: `lesson-task${task.done ? " done" : ""}`, "data-testid": `lesson-task-${task.id}`, "data-done": task.done ? "true" : "false" },
    el("span", { class: "lesson-check", "aria-hidden": "true", text: mark }),
    htmlEl("div", { class: "lesson-task-text" }, task.html),
  );
  if (task.done) row.append(el("span", { class: "lesson-by", text: task.done_by === "lesson" ? "done for you" : "done" + by }));
  else {
    row.append(el("button", {
      type: "button", class: "lesson-btn lesson-showme", "data-testid": `lesson-showme-${task.id}`, disabled: busy,
      text: "Show me", onclick: () => act("lesson_show_me", { task: task.id }),
    }));
  }
  if (!task.done && task.hint_html) row.append(htmlEl("div", { class: "lesson-hint", role: "note", "data-testid": `lesson-hint-${task.id}` }, `💡 ${task.hint_html}`));
  return row;
}

function valueKey(v) {
  return JSON.stringify(v);
}

function questionBox(q, tasksLeft, interview) {
  const result = results.get(q.id) || q.result;
  const box = el("div", { class: "lesson-question", "data-testid": `lesson-question-${q.id}` },
    htmlEl("div", { class: "lesson-prompt" }, q.html));
  const locked = Boolean(result) || busy;
  const waiting = q.predict && tasksLeft;
  if (q.kind === "number") {
    const input = el("input", {
      type: "number", step: "any", class: "lesson-number", "data-testid": `lesson-number-${q.id}`,
      "aria-label": "Your answer", disabled: locked || waiting,
    });
    if (picked.has(q.id)) input.value = String(picked.get(q.id));
    else if (result) input.value = String(result.choice);
    input.addEventListener("input", () => {
      if (input.value === "") picked.delete(q.id);
      else picked.set(q.id, Number(input.value));
      const go = box.querySelector(".lesson-go");
      if (go) go.disabled = !picked.has(q.id) || !Number.isFinite(picked.get(q.id));
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") box.querySelector(".lesson-go")?.click();
    });
    box.append(input);
  } else {
    const choices = el("div", { class: "lesson-choices", role: "group" });
    for (const c of q.choices) {
      const chosen = result ? valueKey(result.choice) === valueKey(c.value) : picked.has(q.id) && valueKey(picked.get(q.id)) === valueKey(c.value);
      const actual = result && valueKey(result.actual) === valueKey(c.value);
      const cls = ["lesson-choice", chosen ? "chosen" : "", actual ? "actual" : ""].filter(Boolean).join(" ");
      const button = htmlEl("button", {
        type: "button", class: cls, "aria-pressed": chosen ? "true" : "false", disabled: locked || waiting,
        "data-testid": `lesson-choice-${q.id}-${c.value}`,
        onclick: () => {
          picked.set(q.id, c.value);
          render();
        },
      }, c.label_html);
      // Words, not only colour: which one was chosen and which one the cluster did.
      if (result && chosen) button.append(el("span", { class: "lesson-tag", text: "your answer" }));
      if (result && actual) button.append(el("span", { class: "lesson-tag lesson-tag-actual", text: q.predict ? "what happened" : "the answer" }));
      choices.append(button);
    }
    box.append(choices);
  }
  if (waiting) box.append(el("p", { class: "hint", text: "Do the tasks above first, then predict." }));
  if (!result) {
    const label = q.predict ? (interview ? "Run it" : "Predict and run") : "Check";
    box.append(el("button", {
      type: "button", class: "btn-primary lesson-go", "data-testid": `lesson-go-${q.id}`,
      disabled: locked || waiting || !picked.has(q.id), text: label,
      onclick: async () => {
        const ack = await act("lesson_answer", { question: q.id, choice: picked.get(q.id) });
        if (ack?.ok) {
          results.set(q.id, ack.result);
          render();
        }
      },
    }));
  } else {
    box.append(gradingBox(result, q.predict));
  }
  return box;
}

function gradingBox(r, predicted) {
  const verdict = r.correct ? "✓ Right" : "✗ Not quite";
  const actual = r.actual_label ?? (typeof r.actual === "object" ? JSON.stringify(r.actual) : String(r.actual));
  const box = el("div", { class: `lesson-grading ${r.correct ? "right" : "wrong"}`, role: "status", "data-testid": "lesson-grading", "data-correct": r.correct ? "true" : "false" },
    el("p", { class: "lesson-verdict" }, el("b", { text: verdict }), el("span", { text: predicted ? ` · what happened: ${actual}` : ` · the answer: ${actual}` })),
    htmlEl("div", { class: "lesson-explanation" }, r.explanation_html));
  if (r.watch?.length) {
    const list = el("ul", { class: "lesson-watch" });
    for (const w of r.watch) {
      // A button, like the narration list's: a click or Enter jumps the timeline there.
      list.append(el("li", {}, el("button", {
        type: "button", class: "lesson-watch-item", title: "Jump to this moment", "data-testid": "lesson-watch-item", "data-time": String(w.time),
        onclick: () => seekTo(w.time),
      }, el("span", { class: "lesson-watch-t", text: `${Math.round(w.time)} ms` }), el("span", { text: ` ${w.node}: ${w.text}` }))));
    }
    box.append(el("p", { class: "hint", text: "On screen:" }), list);
  }
  return box;
}

function outline(s) {
  const done = new Set(readProgress()[s.lesson.id]?.done || []);
  const list = el("ol", { class: "lesson-outline", "data-testid": "lesson-outline" });
  s.lesson.step_titles.forEach((t, i) => {
    const current = i === s.step.index;
    list.append(el("li", {}, el("button", {
      type: "button", class: `lesson-outline-item${current ? " current" : ""}`, "aria-current": current ? "step" : false,
      "data-testid": `lesson-outline-${i}`, disabled: busy,
      text: `${done.has(i) ? "✓" : `${i + 1}.`} ${t.title}`,
      onclick: () => {
        outlineOpen = false;
        act("lesson_goto", { step: i });
      },
    })));
  });
  return list;
}

function summary(s) {
  const p = s.progress;
  const box = el("div", { class: "lesson-summary", "data-testid": "lesson-summary" }, el("h4", { text: s.lesson.kind === "interview" ? "Score" : "Lesson complete" }));
  const tasks = p.tasks_total ? ` · ${p.tasks_done} of ${p.tasks_total} tasks done` : "";
  box.append(el("p", { text: `${p.questions_correct} of ${p.questions_answered} answers right${tasks}` }));
  return box;
}

/** A prediction waits once the tasks are done: keep the player paused so the learner predicts
 * before seeing (docs/lessons.md). */
function predictionWaits(s) {
  return s.step.tasks.every((t) => t.done) && s.step.questions.some((q) => q.predict && !q.result && !results.has(q.id));
}

function offScript(s) {
  const t = getTime();
  return t !== null && Math.abs(t - s.now) > 0.5;
}

function renderPlayer(root) {
  const s = state;
  const interview = s.lesson.kind === "interview";
  const steps = s.lesson.steps;
  const i = s.step.index;
  const tasksLeft = s.step.tasks.some((t) => !t.done);

  const head = el("header", { class: "lesson-head" },
    el("div", { class: "lesson-kind", text: interview ? "Interview card" : "Lesson" }),
    el("h2", { class: "lesson-title", "data-testid": "lesson-title", text: s.lesson.title }),
    el("div", { class: "lesson-tools" },
      el("button", { type: "button", class: "lesson-btn", "aria-expanded": outlineOpen ? "true" : "false", "data-testid": "lesson-outline-toggle",
        text: `Step ${i + 1} of ${steps} ▾`, onclick: () => { outlineOpen = !outlineOpen; render(); } }),
      el("a", { class: "lesson-link", href: deepLink(s), "data-testid": "lesson-deeplink", title: "A link to this step",
        text: "Link", onclick: (e) => { e.preventDefault(); copyLink(s); } }),
      el("button", { type: "button", class: "lesson-btn", "data-testid": "lesson-hide", text: "Hide", title: "Hide the lesson (the Inspect and narration panel shows again)",
        onclick: () => { collapsed = true; render(); } }),
      el("button", { type: "button", class: "lesson-btn", "data-testid": "lesson-exit", text: "Exit", title: "Leave the lesson; the cluster stays for free play",
        onclick: () => act("lesson_exit", {}).then((ack) => { if (ack?.ok) setState(null); }) })));

  const body = el("div", { class: "lesson-body", "data-testid": "lesson-body" });
  if (outlineOpen) body.append(outline(s));
  body.append(el("h3", { class: "lesson-step-title", "data-testid": "lesson-step-title", "data-step": String(i), text: s.step.title }));
  // The scenario, then (a card has no tasks) straight to the prediction.
  body.append(htmlEl("div", { class: "lesson-text", "data-testid": "lesson-text" }, s.step.html));
  if (s.step.tasks.length) {
    body.append(el("h4", { text: "Your turn" }), el("ul", { class: "lesson-tasks" }, ...s.step.tasks.map(taskRow)));
  }
  body.append(...s.step.questions.map((q) => questionBox(q, tasksLeft, interview)));
  if (s.step.problems?.length) body.append(el("p", { class: "lesson-problems", text: `The scene did not go as scripted: ${s.step.problems.join("; ")}` }));
  if (s.progress.finished) body.append(summary(s));
  if (offScript(s)) {
    body.append(el("p", { class: "lesson-off" },
      el("span", { text: "You have moved on from the lesson's scene. " }),
      el("button", { type: "button", class: "lesson-btn", "data-testid": "lesson-return", text: "↺ Back to the lesson step",
        disabled: busy, onclick: () => act("lesson_goto", { step: i }) })));
  }

  // Back and Next stay in the same place on every step: a fixed footer of fixed-width buttons.
  const foot = el("footer", { class: "lesson-foot" },
    el("button", { type: "button", class: "lesson-nav", "data-testid": "lesson-back", disabled: busy || i === 0, text: "← Back",
      onclick: () => act("lesson_back", {}) }),
    el("span", { class: "lesson-count", "data-testid": "lesson-progress", text: `${i + 1} / ${steps}` }),
    i + 1 < steps
      ? el("button", { type: "button", class: "lesson-nav btn-primary", "data-testid": "lesson-next", disabled: busy, text: "Next →",
        onclick: () => act("lesson_next", {}) })
      : el("button", { type: "button", class: "lesson-nav btn-primary", "data-testid": "lesson-next", disabled: busy, text: "Lessons",
        title: "Pick another lesson or card", onclick: openPicker }));
  root.replaceChildren(head, body, foot);
}

async function copyLink(s) {
  const link = deepLink(s);
  try {
    await navigator.clipboard.writeText(link);
    toast("Link to this step copied", "ok");
  } catch {
    toast(link, "info", 8000);
  }
}

function render() {
  const root = byId("lesson-panel");
  const tab = byId("lesson-show");
  if (!root) return;
  if (!state) {
    root.hidden = true;
    tab.hidden = true;
    return;
  }
  root.hidden = collapsed;
  tab.hidden = !collapsed;
  document.body.classList.toggle("lesson-collapsed", collapsed);
  if (collapsed) return;
  const scroll = root.querySelector(".lesson-body")?.scrollTop ?? 0;
  const focused = document.activeElement?.dataset?.testid;
  renderPlayer(root);
  const body = root.querySelector(".lesson-body");
  if (body) body.scrollTop = scroll;
  if (focused && root.contains(document.activeElement) === false) root.querySelector(`[data-testid="${focused}"]`)?.focus({ preventScroll: true });
}

// ------------------------------------------------------------------- wiring

/** Start a lesson named in the address (`?lesson=<id>&step=<n>`), once per page load. */
async function applyUrl() {
  const params = new URLSearchParams(location.search);
  const id = params.get("lesson");
  if (!id) return;
  const step = Number(params.get("step") || 0);
  const payload = { id };
  if (Number.isInteger(step) && step > 0) payload.step = step;
  const ack = await act("lesson_start", payload);
  if (!ack?.ok) setUrl(null);
}

/**
 * A reload shows the lesson the session already runs when the address names that lesson at its
 * current step (the server keeps it, across a restart too); any other address starts it there.
 */
async function resumeOrApplyUrl() {
  const params = new URLSearchParams(location.search);
  const ack = await call("lesson_state");
  const s = ack?.ok ? ack.state : null;
  if (s?.started && s.lesson.id === params.get("lesson") && String(s.step.index) === (params.get("step") || "0")) {
    setState(s);
    return;
  }
  await applyUrl();
}

/**
 * Mount the lesson player. ctx: socket (from connect()), time() → the simulated time the page
 * shows (to notice that the learner left the scene), seek(time) (the page's player seek, for
 * the watched events of a grading).
 */
export function mount(ctx) {
  socket = ctx.socket;
  getTime = ctx.time;
  if (ctx.seek) seekTo = ctx.seek;
  byId("btn-lessons").addEventListener("click", openPicker);
  byId("lesson-picker-close").addEventListener("click", closePicker);
  byId("lesson-picker").addEventListener("click", (e) => {
    if (e.target === byId("lesson-picker")) closePicker();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closePicker();
  });
  byId("lesson-show").addEventListener("click", () => {
    collapsed = false;
    render();
  });
  socket.on("lesson", (data) => setState(data?.state ?? null));
  let first = true;
  socket.on("hello", () => {
    if (first) {
      first = false;
      if (new URLSearchParams(location.search).get("lesson")) {
        resumeOrApplyUrl();
        return;
      }
    }
    // A reload or reconnect of a session that runs a lesson shows it again.
    call("lesson_state").then((ack) => {
      if (ack.ok) setState(ack.state);
    });
  });
  // Hints come due with time: ask again now and then while a task waits.
  setInterval(() => {
    if (state && !busy && state.step.tasks.some((t) => !t.done && !t.hint_html)) {
      call("lesson_state").then((ack) => {
        if (ack.ok && ack.state?.started && state && ack.state.step.index === state.step.index) setState(ack.state);
      });
    }
  }, 5000);
}

/** Re-render when the cluster's time moves (the "back to the lesson step" offer). */
export function onFrame(snapshot) {
  if (!state) return;
  if (snapshot?.player?.playing && predictionWaits(state) && !busy && !pausing) {
    pausing = true;
    call("player", { action: "pause" }).finally(() => { pausing = false; });
    toast("Make your prediction first: the lesson runs the cluster when you answer.", "info");
  }
  // A reset or an uploaded trace ends the lesson on the server: a full frame is the moment
  // to ask whether it still runs.
  if (snapshot?.full && !busy && !checking) {
    checking = true;
    call("lesson_state").then((ack) => {
      checking = false;
      if (ack.ok && !ack.state) setState(null);
    });
  }
  if (collapsed) return;
  const root = byId("lesson-panel");
  const shown = Boolean(root.querySelector('[data-testid="lesson-return"]'));
  if (shown !== offScript(state)) render();
}
