// The one module that owns the Socket.IO connection. Everything else talks through `api`.

import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";

const TOKEN_KEY = "raftviz.session";
// A seek far ahead or a long trace import replays the run: the server may take seconds.
const ACK_TIMEOUT_MS = 65000;

let socket = null;
let onError = () => {};

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* private mode: the session just won't survive a reload */
  }
}

/**
 * Connect and route server events. `handlers`: hello(data), frame(data), status(text, kind),
 * error(message) for rejected acknowledgements, expired() when the server ended the session.
 */
export function connect(handlers) {
  onError = handlers.error || onError;
  // A student's page (`/?join=CODE`) follows a classroom and has no cluster of its own.
  const join = joinCode();
  const auth = join ? { join } : { session: storedToken() };
  socket = io({ auth, transports: ["websocket", "polling"] });
  socket.on("connect", () => handlers.status("connected", "ok"));
  socket.on("disconnect", (reason) => {
    // The server ends idle sessions; socket.io-client then does not reconnect by itself.
    if (reason === "io server disconnect") handlers.expired();
    else handlers.status("reconnecting…", "wait");
  });
  socket.on("connect_error", (err) => {
    const text = err?.data?.error || err?.message || "cannot reach the server";
    handlers.status(text === "server full" ? "server full: try again later" : `offline: ${text}`, "bad");
  });
  socket.on("hello", (data) => {
    if (data && typeof data.session === "string" && !join) {
      storeToken(data.session);
      socket.auth = { session: data.session }; // a reconnect gets the same cluster back
    }
    // The server could not restore the stored session behind our token (docs/deploy.md).
    if (data && typeof data.restore_error === "string") onError(data.restore_error);
    handlers.hello(data || {});
  });
  socket.on("frame", (frame) => handlers.frame(frame));
  return socket;
}

// Back/forward cache: an open socket keeps a page out of it. Leaving closes the socket; a page
// restored from the cache connects again, and the stored token brings its cluster back.
addEventListener("pagehide", () => socket?.disconnect());
addEventListener("pageshow", (e) => {
  if (e.persisted) socket?.connect();
});

/** The classroom code of `/?join=CODE` (letters and digits only), or "". */
export function joinCode() {
  const code = new URLSearchParams(location.search).get("join") || "";
  return /^[A-Za-z0-9-]{4,16}$/.test(code) ? code.toUpperCase() : "";
}

/** Connect again after the server ended the session: a new cluster and a new token. */
export function reconnect() {
  socket?.connect();
}

/** Emit an event and resolve with its acknowledgement ({ok, ...}); never rejects. */
function emit(event, payload) {
  return new Promise((resolve) => {
    if (!socket) {
      resolve({ ok: false, error: "not connected" });
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err) resolve({ ok: false, error: "the server did not answer in time" });
      else if (!ack || typeof ack !== "object") resolve({ ok: false, error: "the server sent no answer" });
      else resolve(ack);
    });
  });
}

async function call(event, payload, { quiet = false } = {}) {
  const ack = await emit(event, payload);
  if (!ack.ok && !quiet) onError(String(ack.error || "the server refused"));
  return ack;
}

/** Every client→server event of docs/protocol.md. */
export const api = {
  command: (command, opts) => call("command", { command }, opts),
  player: (action, extra = {}, opts) => call("player", { action, ...extra }, opts),
  reset: (config, opts) => call("reset", { config }, opts),
  traceExport: (opts) => call("trace_export", {}, opts),
  traceImport: (trace, opts) => call("trace_import", { trace }, opts),
  resync: () => call("resync", {}, { quiet: true }),
  // Read-only windows of the whole run (the space-time and operation-history views).
  record: (event, payload) => call(event, payload, { quiet: true }),
  exportStart: (payload, opts) => call("export_start", payload, opts),
};
