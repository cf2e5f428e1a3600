// Small helpers shared by every view: element lookup, building elements (HTML and SVG), number formats.

export const $ = (id) => document.getElementById(id);

export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// An element built from data, never from HTML text: el("li", {class: "lesion", title: name}, name, badge).
// Attributes null/undefined/false are left out, true is present and empty; `style` takes an object of CSS
// properties (set one by one: the CSP refuses style attributes); a function under `onclick`, `onchange`…
// becomes that event's listener. Children are nodes or strings (set as text, never parsed as HTML).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") Object.assign(node.style, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A name cut to `max` characters with an ellipsis (the caller shows the whole name on hover).
export const shorten = (text, max) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export function svgEl(name, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export const fmt = (v, digits = 1, unit = "") =>
  (v === null || v === undefined || Number.isNaN(v)) ? "—" : `${Number(v).toFixed(digits)}${unit}`;

export function status(text) { const node = $("status"); if (node) node.textContent = text || ""; }

// true when a key press belongs to a text field, not to the page's shortcuts
export function typing(event) {
  const tag = event.target.tagName;
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.target.isContentEditable;
}
