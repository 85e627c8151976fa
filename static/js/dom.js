// Small DOM helpers. Every text goes in through textContent: server and user text is never HTML.

export const SVG_NS = "http://www.w3.org/2000/svg";

function apply(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.setAttribute("class", value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  return node;
}

/** An HTML element: el("button", {class: "x", text: "Go", onclick: f}, child...). */
export function el(tag, attrs = {}, ...children) {
  const node = apply(document.createElement(tag), attrs);
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/** An SVG element, same calling convention as el(). */
export function svg(tag, attrs = {}, ...children) {
  const node = apply(document.createElementNS(SVG_NS, tag), attrs);
  for (const child of children) if (child != null) node.append(child);
  return node;
}

export const byId = (id) => document.getElementById(id);

/** Set an attribute only when it changed (cheap re-renders at 20-60 Hz). */
export function attr(node, name, value) {
  const text = String(value);
  if (node.getAttribute(name) !== text) node.setAttribute(name, text);
}

export function text(node, value) {
  const t = String(value);
  if (node.textContent !== t) node.textContent = t;
}

export function toggleClass(node, name, on) {
  if (node.classList.contains(name) !== Boolean(on)) node.classList.toggle(name, Boolean(on));
}

/**
 * Reconcile `parent`'s children with `items` by key: create missing ones, update all, remove
 * the rest. Children keep their identity across renders, so CSS transitions and focus survive.
 */
export function keyed(parent, items, keyOf, create, update) {
  const map = parent.__keyed || (parent.__keyed = new Map());
  const seen = new Set();
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    seen.add(key);
    let node = map.get(key);
    if (!node) {
      node = create(item);
      map.set(key, node);
    }
    update(node, item);
    const expected = previous ? previous.nextSibling : parent.firstChild;
    if (node !== expected) parent.insertBefore(node, expected);
    previous = node;
  }
  for (const [key, node] of map) {
    if (!seen.has(key)) {
      node.remove();
      map.delete(key);
    }
  }
}
