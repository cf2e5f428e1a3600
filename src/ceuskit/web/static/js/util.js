// Small helpers shared by every view: element lookup, escaping, SVG elements, number formats.

export const $ = (id) => document.getElementById(id);

export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

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
