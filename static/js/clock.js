// The simulated time the page draws at, between frames.
//
// Frames arrive about 20 times a second; drawing messages only at frame times would make them
// jump. The display clock runs at the player's speed from the last frame's time and is pulled
// gently toward it (a low-pass filter), so motion stays smooth and never runs far ahead of
// the server. A big jump (seek, reset) snaps.

const PULL_MS = 120; // real milliseconds to close most of a gap
const AHEAD_LIMIT_MS = 250; // real milliseconds of extrapolation without a new frame

export class SimClock {
  constructor() {
    this.display = 0;
    this.target = 0;
    this.arrival = 0;
    this.speed = 0;
    this.playing = false;
    this.last = performance.now();
  }

  onFrame(time, player, now = performance.now()) {
    this.playing = Boolean(player?.playing);
    this.speed = Number(player?.speed) || 0;
    const jump = Math.max(200, this.speed * 1000);
    if (Math.abs(time - this.display) > jump || time < this.display - jump / 4) this.display = time;
    this.target = time;
    this.arrival = now;
  }

  tick(now = performance.now()) {
    const dt = Math.min(Math.max(now - this.last, 0), 100);
    this.last = now;
    let goal = this.target;
    if (this.playing) {
      goal += Math.min(now - this.arrival, AHEAD_LIMIT_MS) * this.speed;
      this.display += dt * this.speed;
    }
    this.display += (goal - this.display) * Math.min(1, dt / PULL_MS);
    return this.display;
  }
}
