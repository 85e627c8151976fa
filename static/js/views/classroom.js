// Classroom mode (docs/ui.md, "Classroom"): a presenter shares their cluster with students.
//
// The presenter's page creates a classroom (`class_create`), shows the join code and link big
// enough for a projector, the number of students, a hand-control picker, a poll composer and
// the live tally. A student's page (`/?join=CODE`) follows the presenter read-only: a banner,
// the controls made inert, and a poll card with choice buttons. The server enforces the
// read-only part; this module only makes it visible. All text from the server goes in with
// textContent (el's `text`).

import { byId, el, text } from "../dom.js";
import { toast } from "../toast.js";

const SECRET_KEY = "raftviz.classroom";
const ACK_TIMEOUT_MS = 10000;
// Inert while following: the controls that change the cluster (the server refuses anyway).
const LOCKED = [".panel-left", "#timeline", "#start-hint", "#lesson-panel", "#lesson-show"];

let socket = null;
let state = null; // the latest `class` message, merged (a shared one has no personal fields)
let secret = "";
let root = null;
let mine = null; // a student's own answer to the open poll
let lessonQuestions = []; // the current lesson step's multiple-choice questions

function call(event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err || !ack || typeof ack !== "object") resolve({ ok: false, error: "the server did not answer" });
      else resolve(ack);
    });
  }).then((ack) => {
    if (!ack.ok) toast(String(ack.error || "the server refused"));
    return ack;
  });
}

/** el() with the children as one array. */
function h(tag, attrs = {}, children = []) {
  return el(tag, attrs, ...children);
}

function stored() {
  try {
    return JSON.parse(sessionStorage.getItem(SECRET_KEY) || "null");
  } catch {
    return null;
  }
}

function store(value) {
  try {
    if (value) sessionStorage.setItem(SECRET_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SECRET_KEY);
  } catch {
    /* private mode: the secret lasts as long as this page */
  }
}

/** True on a student's page: the page must not try to change the cluster. */
export function following() {
  return state?.role === "student";
}

/** `opts`: {socket, joining} (joining: this page was opened with a join code). */
export function mount(opts) {
  socket = opts.socket;
  root = byId("classroom");
  byId("btn-classroom").addEventListener("click", () => {
    if (following()) return;
    root.hidden = !root.hidden;
    if (!root.hidden && !state) create();
    render();
  });
  socket.on("class", (msg) => receive(msg));
  socket.on("lesson", (msg) => {
    // The running lesson's multiple-choice questions can be put to the class as a poll.
    const questions = msg?.state?.step?.questions || [];
    lessonQuestions = questions.filter((q) => Array.isArray(q.choices) && q.choices.length >= 2);
    render();
  });
  socket.on("connect", () => {
    // A presenter's reload or reconnect: present the same classroom again with the secret.
    const saved = stored();
    if (!opts.joining && saved?.secret) {
      call("class_create", { secret: saved.secret }).then((ack) => {
        if (ack.ok) {
          secret = saved.secret;
          receive(ack.class);
        } else store(null);
      });
    }
  });
  if (opts.joining) document.body.classList.add("classroom-student");
}

async function create() {
  const ack = await call("class_create", {});
  if (!ack.ok) return;
  secret = ack.secret;
  store({ secret, code: ack.code });
  receive(ack.class);
}

function receive(msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.closed) {
    state = { ...state, closed: true };
    toast(`The presenter ended classroom ${msg.code}.`, "info", 8000);
    render();
    return;
  }
  if (msg.shared && state?.role === "presenter") return;
  const before = pollKey(state?.poll);
  state = msg.shared ? { ...state, ...msg, you: state?.you } : msg;
  if (!msg.shared && state.poll && "mine" in state.poll) mine = state.poll.mine ?? null;
  else if (pollKey(state.poll) !== before) mine = null; // a new poll
  render();
}

function pollKey(poll) {
  return poll ? JSON.stringify([poll.question, poll.choices]) : "";
}

// ------------------------------------------------------------------ render

function render() {
  if (!root || !state) return;
  const student = state.role === "student";
  const controls = student && !(state.you && state.controller === state.you.id);
  document.body.classList.toggle("classroom-student", student);
  for (const sel of LOCKED) {
    const node = document.querySelector(sel);
    if (node) node.inert = controls;
  }
  const banner = byId("classroom-banner");
  banner.hidden = !student;
  if (student) {
    let msg = `Following the presenter — read-only · classroom ${state.code}`;
    if (state.closed) msg = `Classroom ${state.code} has ended`;
    else if (!controls) msg = `The presenter handed you control · classroom ${state.code}`;
    text(banner, msg);
    banner.classList.toggle("classroom-banner-control", !controls);
  }
  root.hidden = student ? !state.poll : root.hidden;
  root.replaceChildren(...(student ? studentView() : presenterView()));
}

function presenterView() {
  const link = `${location.origin}/join/${state.code}`;
  const close = h("button", { type: "button", class: "class-hide", text: "Hide", "data-testid": "class-hide", onclick: () => { root.hidden = true; } });
  const head = h("div", { class: "class-head" }, [
    h("div", {}, [
      h("div", { class: "class-label", text: "Join code" }),
      h("div", { class: "class-code", "data-testid": "class-code", text: state.code }),
      h("div", { class: "class-link", "data-testid": "class-link", text: link }),
    ]),
    h("div", { class: "class-count" }, [
      h("b", { "data-testid": "class-students", text: String(state.students) }),
      h("span", { text: state.students === 1 ? " student" : " students" }),
    ]),
    close,
  ]);
  const picker = h("select", { "data-testid": "class-hand", "aria-label": "Who controls the cluster" }, [
    h("option", { value: "", text: "Presenter (me)" }),
    ...(state.roster || []).map((s) => h("option", { value: s.id, text: `${s.name} (${s.id})` })),
  ]);
  picker.value = state.controller || "";
  picker.addEventListener("change", () => call("class_hand", { secret, student: picker.value || null }));
  const hand = h("label", { class: "class-row" }, [h("span", { text: "Control: " }), picker]);
  return [head, hand, h("div", {}, [pollComposer(), lessonPolls()]), pollResults()];
}

let composer = null; // kept across renders, so typing survives a student joining

function pollComposer() {
  if (state.poll?.open) return h("div");
  if (composer) return composer;
  const question = h("input", { type: "text", maxlength: "300", placeholder: "What happens next?", "data-testid": "poll-question" });
  const choices = h("textarea", { rows: "4", placeholder: "One choice per line (2 to 6)", "data-testid": "poll-choices" });
  const open = h("button", {
    type: "button", class: "btn-primary", text: "Open poll", "data-testid": "poll-open",
    onclick: async () => {
      const ack = await call("poll_open", {
        secret,
        question: question.value,
        choices: choices.value.split("\n").map((c) => c.trim()).filter(Boolean),
      });
      if (ack.ok) {
        question.value = "";
        choices.value = "";
      }
    },
  });
  composer = h("div", { class: "class-compose" }, [h("h3", { text: "Prediction poll" }), question, choices, open]);
  return composer;
}

function bars(poll, testid) {
  const tally = poll.tally || [];
  const total = Math.max(1, tally.reduce((a, b) => a + b, 0));
  return h("ol", { class: "class-bars", "data-testid": testid }, poll.choices.map((choice, i) => {
    const n = tally[i] ?? 0;
    const right = poll.correct === i;
    return h("li", { class: right ? "class-bar class-bar-right" : "class-bar", "data-choice": String(i), "data-count": String(n) }, [
      h("span", { class: "class-bar-label", text: `${right ? "✓ " : ""}${choice}` }),
      h("span", { class: "class-bar-track" }, [h("span", { class: "class-bar-fill", style: `width:${(100 * n) / total}%` })]),
      h("b", { class: "class-bar-n", text: String(n) }),
    ]);
  }));
}

function lessonPolls() {
  if (state.poll?.open || !lessonQuestions.length) return h("div");
  return h("div", { class: "class-row" }, [
    h("span", { text: "Poll the lesson's question: " }),
    ...lessonQuestions.map((q) => h("button", {
      type: "button", text: q.id, "data-testid": `poll-lesson-${q.id}`,
      onclick: () => call("poll_open", { secret, lesson_question: q.id }),
    })),
  ]);
}

function pollResults() {
  const poll = state.poll;
  if (!poll) return h("div");
  const status = poll.open ? `open · ${poll.answers} answered` : poll.correct != null ? "revealed" : "closed";
  const actions = h("div", { class: "class-row" });
  if (poll.open) {
    actions.append(h("button", { type: "button", text: "Close answers", "data-testid": "poll-close", onclick: () => call("poll_close", { secret }) }));
  }
  if (poll.correct == null) {
    actions.append(h("span", { text: "After running it, reveal: " }));
    poll.choices.forEach((choice, i) => actions.append(h("button", {
      type: "button", class: "btn-primary", text: choice, "data-testid": `poll-reveal-${i}`,
      onclick: () => call("poll_reveal", { secret, correct: i }),
    })));
  }
  return h("div", { class: "class-poll" }, [
    h("h3", { text: poll.question }),
    h("div", { class: "class-status", "data-testid": "poll-status", text: status }),
    bars(poll, "poll-tally"),
    actions,
  ]);
}

function studentView() {
  const poll = state.poll;
  if (!poll) return [];
  const buttons = h("div", { class: "class-choices" }, poll.choices.map((choice, i) => h("button", {
    type: "button",
    class: mine === i ? "class-choice class-choice-mine" : "class-choice",
    "aria-pressed": mine === i ? "true" : "false",
    disabled: !poll.open,
    "data-testid": `poll-choice-${i}`,
    text: choice,
    onclick: async () => {
      const ack = await call("poll_answer", { choice: i });
      if (ack.ok) {
        mine = i;
        render();
      }
    },
  })));
  let status = poll.open ? (mine == null ? "Pick your prediction (you can change it until the poll closes)" : "Answer sent; you can change it") : "Answers are closed";
  if (poll.correct != null) status = mine === poll.correct ? "Revealed: you predicted right" : "Revealed: see what happened on the cluster";
  const parts = [
    h("h3", { text: poll.question }),
    h("div", { class: "class-status", "data-testid": "poll-status", text: status }),
    buttons,
  ];
  if (poll.tally) parts.push(bars(poll, "poll-tally"));
  return [h("div", { class: "class-poll class-poll-student", "data-testid": "poll-card" }, parts)];
}
