// The screen-reader voice of the lab: what happened, in plain words, at a pace a listener can
// follow (docs/ui.md, "Accessibility").
//
// The narration list is far too fast to be read aloud while the cluster plays (dozens of
// events a second), so this module keeps its own polite live region. It takes the narration
// events of each frame, keeps the kinds the chosen level asks for, and speaks at most one
// sentence every PACE_MS: when more piled up meanwhile it says the most important one and
// counts the rest ("and 4 more: 3 commits, 1 vote"). Jumps in time reset it without reading
// the past aloud.

import { attr, text } from "../dom.js";
import { ms } from "../format.js";

const PACE_MS = 2500;
const STORAGE_KEY = "raftviz.announce";

// Which event kinds each level speaks; a higher rank is said first when several are waiting.
export const LEVELS = {
  off: new Set(),
  key: new Set(["violation", "leader", "step_down", "fault", "network"]),
  more: new Set(["violation", "leader", "step_down", "fault", "network", "election", "commit", "client", "truncate", "settings"]),
};
const RANK = { violation: 9, leader: 8, fault: 7, network: 6, step_down: 5, election: 4, truncate: 3, client: 2, commit: 1 };
const PLURAL = { commit: "commits", election: "elections", client: "client results", fault: "faults", network: "network changes", leader: "leader changes", step_down: "step-downs", truncate: "truncations", settings: "setting changes", violation: "violations" };

export class Announcer {
  /** region: an element with role="status"; select: the level picker (a <select>). */
  constructor(region, select, now = () => performance.now()) {
    this.region = region;
    this.select = select;
    this.now = now;
    this.level = load();
    this.lastSeq = null; // null until the first frame: the past is never read aloud
    this.lastTime = -Infinity;
    this.queue = [];
    this.lastSpoken = -Infinity;
    this.timer = null;
    if (select) {
      select.value = this.level;
      select.addEventListener("change", () => this.setLevel(select.value));
    }
  }

  setLevel(level) {
    if (!(level in LEVELS)) return;
    this.level = level;
    this.queue = [];
    try {
      localStorage.setItem(STORAGE_KEY, level);
    } catch {
      /* storage off: the choice lasts this visit */
    }
  }

  /** Take the narration events of a new frame. */
  onFrame(snap) {
    const events = snap.events || [];
    const newest = events.length ? events[events.length - 1].seq : 0;
    if (this.lastSeq === null || snap.time < this.lastTime || newest < this.lastSeq) {
      // First frame, or a jump back in time / a reset: start listening from here.
      this.lastSeq = newest;
      this.lastTime = snap.time;
      this.queue = [];
      return;
    }
    this.lastTime = snap.time;
    const wanted = LEVELS[this.level];
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      if (wanted.has(e.kind)) this.queue.push(e);
    }
    this.lastSeq = Math.max(this.lastSeq, newest);
    this.pump();
  }

  pump() {
    if (!this.queue.length || this.timer !== null) return;
    const wait = this.lastSpoken + PACE_MS - this.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    const sentence = summarize(this.queue);
    this.queue = [];
    this.lastSpoken = this.now();
    this.say(sentence);
  }

  say(sentence) {
    // A changed text is what a live region announces; the counter keeps two equal
    // sentences in a row from being swallowed.
    this.count = (this.count || 0) + 1;
    attr(this.region, "data-count", String(this.count));
    text(this.region, sentence);
  }
}

/** One sentence for the waiting events: the most important in full, the rest counted. */
export function summarize(events) {
  const sorted = [...events].sort((a, b) => (RANK[b.kind] || 0) - (RANK[a.kind] || 0) || a.seq - b.seq);
  const first = sorted[0];
  let sentence = `${first.kind === "violation" ? "Safety violation: " : ""}${first.text} (at ${ms(first.time)}).`;
  const rest = sorted.slice(1);
  if (rest.length) {
    const counts = new Map();
    for (const e of rest) counts.set(e.kind, (counts.get(e.kind) || 0) + 1);
    const parts = [...counts].map(([k, n]) => `${n} ${n === 1 ? k.replace(/_/g, " ") : PLURAL[k] || k}`);
    sentence += ` And ${rest.length} more: ${parts.join(", ")}.`;
  }
  return sentence;
}

function load() {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v && v in LEVELS) return v;
  } catch {
    /* storage off */
  }
  return "key";
}
