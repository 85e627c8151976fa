// Short notices at the bottom of the screen (errors from the server, confirmations).

import { byId, el } from "./dom.js";

export function toast(message, kind = "error", ms = 4500) {
  const box = byId("toasts");
  const prefix = kind === "error" ? "⚠ " : kind === "ok" ? "✓ " : "";
  const node = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", text: prefix + message });
  box.append(node);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => node.classList.add("toast-out"), ms);
  setTimeout(() => node.remove(), ms + 400);
}
