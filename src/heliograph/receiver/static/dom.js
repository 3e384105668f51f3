// Building the page from data without ever parsing data as markup: every string becomes a
// text node (or an attribute value we chose the name of), never parsed as HTML. This is what
// keeps a log containing <script> or <img onerror> inert; the page's CSP is the second wall.

/** An element with attributes (our own names only) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A link inside the dashboard; ``parts`` are encoded, so an id can never leave the hash. */
export function link(text, ...parts) {
  return h("a", { href: "#/" + parts.map(encodeURIComponent).join("/") }, text);
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const pad = (n) => String(n).padStart(2, "0");

/** ``2024-05-01 14:03:07`` in local time: sortable, and the same in every browser. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function fmtInt(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function fmtCost(usd) {
  if (usd === null || usd === undefined) return "–";
  if (usd === 0) return "$0";
  return "$" + (usd >= 0.01 ? usd.toFixed(4) : usd.toPrecision(3));
}

/** A definition list from [label, value] pairs; values may be nodes. */
export function facts(pairs, label) {
  const dl = h("dl", { class: "facts", "aria-label": label });
  for (const [term, value] of pairs) {
    dl.append(h("div", {}, h("dt", {}, term), h("dd", {}, value ?? "–")));
  }
  return dl;
}

/** A table with a caption and column headers; ``rows`` are arrays of cells. */
export function table(caption, headers, rows, { numeric = [] } = {}) {
  const head = h("tr", {}, headers.map((name, i) =>
    h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, name)));
  const body = rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
    h("td", { class: numeric.includes(i) ? "num" : null }, cell))));
  return h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
}
