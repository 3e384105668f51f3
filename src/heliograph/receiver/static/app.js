// The dashboard: hash routes, four views, and a poll that refreshes them when logs arrive.
//   #/sessions?q=&page=   #/session/<id>   #/request/<id>   #/requests?<filters>&cursor=
import { api, AuthError, setKey } from "./api.js";
import { requestTurns, responseTurns, toolCalls } from "./conversation.js";
import {
  append, facts, fmtCost, fmtDuration, fmtInt, fmtTime, h, link, replace, table,
} from "./dom.js";

const POLL_MS = 2000;
const SESSIONS_PER_PAGE = 25;
const REQUESTS_PER_PAGE = 50;

const main = document.getElementById("main");
const live = document.getElementById("live");
let current = null; // { render, live } of the view on screen
let seenVersion = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function heading(text) {
  return h("h1", { id: "view-title", tabindex: "-1" }, text);
}

function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, `Could not load: ${error.message}`);
}

function keyForm() {
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "key-form", "aria-labelledby": "view-title" },
    h("label", { for: "key" }, "Receiver key (sent as a bearer token, kept for this tab only)"),
    input, h("button", { type: "submit" }, "Use key"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setKey(input.value);
    route();
  });
  return [heading("This receiver requires a key"), form];
}

// -- sessions ------------------------------------------------------------------------------

function sessionsView(params) {
  const page = Math.max(1, Number(params.get("page")) || 1);
  const search = params.get("q") ?? "";
  const searchInput = h("input", { id: "session-search", type: "search", name: "q", value: search });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Search sessions" },
    h("label", { for: "session-search" }, "Name or id contains"), searchInput,
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = searchInput.value.trim();
    location.hash = "#/sessions" + (q ? `?q=${encodeURIComponent(q)}` : "");
  });
  const results = h("div", { id: "results" });
  replace(main, heading("Sessions"), form, results);

  async function render() {
    const data = await api.sessions({
      search: search || null, offset: (page - 1) * SESSIONS_PER_PAGE, limit: SESSIONS_PER_PAGE,
    });
    const pages = Math.max(1, Math.ceil(data.total / SESSIONS_PER_PAGE));
    const rows = data.items.map((s) => [
      link(s.session_name ?? "(unnamed)", "session", s.session_id),
      h("code", {}, s.session_id),
      fmtInt(s.total_requests),
      fmtInt(s.total_tokens),
      fmtCost(s.total_cost),
      fmtDuration(s.duration_ms),
      fmtTime(s.latest_request_created_at_ms),
    ]);
    const pageLink = (n, label) => h("a", {
      href: `#/sessions?${new URLSearchParams({ ...(search ? { q: search } : {}), page: n })}`,
    }, label);
    replace(results,
      rows.length ? table(`Sessions, latest activity first (page ${page} of ${pages})`,
        ["Name", "Session id", "Requests", "Tokens", "Cost", "Duration", "Last activity"],
        rows, { numeric: [2, 3, 4, 5] })
        : h("p", {}, search ? "No session matches." : "No sessions yet. Log a request with a Helicone-Session-Id header."),
      h("nav", { class: "pager", "aria-label": "Session pages" },
        page > 1 ? pageLink(page - 1, "← Previous") : null,
        h("span", {}, `Page ${page} of ${pages} · ${fmtInt(data.total)} sessions`),
        page < pages ? pageLink(page + 1, "Next →") : null));
  }
  return { render, live: true };
}

// -- one session ---------------------------------------------------------------------------

function treeNode(node, byId, idsByPath) {
  const label = h("span", { class: "node-label" },
    h("strong", {}, node.path === "/" ? "/" : node.name),
    ` · ${fmtInt(node.total_requests)} request${node.total_requests === 1 ? "" : "s"} · `,
    `${fmtInt(node.total_tokens)} tokens · ${fmtCost(node.total_cost)} · `,
    fmtDuration(node.end_ms - node.start_ms));
  const ids = idsByPath.get(node.path) ?? [];
  const requests = ids.map((id) => {
    const r = byId.get(id);
    return h("li", { class: "leaf" }, link(`${r.model ?? "request"} at ${fmtTime(r.created_at_ms)}`, "request", id),
      ` · ${fmtInt(r.total_tokens)} tokens · ${fmtCost(r.cost)} · ${fmtDuration(r.delay_ms)}`);
  });
  const notLoaded = node.own_requests - ids.length;
  if (notLoaded > 0) requests.push(h("li", { class: "leaf more" }, `… ${fmtInt(notLoaded)} more at this path, not loaded`));
  const children = node.children.map((child) => treeNode(child, byId, idsByPath));
  return h("li", { "data-path": node.path }, label,
    requests.length || children.length ? h("ul", {}, requests, children) : null);
}

function timeline(session, requests) {
  const start = session.created_at_ms;
  const span = Math.max(1, session.latest_response_created_at_ms - start);
  const rows = requests.map((r) => {
    const bar = h("span", { class: r.status >= 200 && r.status < 300 ? "bar" : "bar bar-error", "aria-hidden": "true" });
    // CSSOM, not a style attribute: the CSP allows only this origin's stylesheets.
    bar.style.marginLeft = `${((r.created_at_ms - start) / span) * 100}%`;
    bar.style.width = `${Math.max(0.5, (r.delay_ms / span) * 100)}%`;
    return h("li", {},
      h("span", { class: "tl-label" }, link(r.session_path ?? "/", "request", r.request_id),
        ` ${r.model ?? ""} +${fmtDuration(r.created_at_ms - start)}, took ${fmtDuration(r.delay_ms)}`),
      h("span", { class: "track" }, bar));
  });
  return h("ol", { class: "timeline", "aria-label": "Requests on a timeline from the session's start" }, rows);
}

// A session answers a page of its requests (the receiver caps it), oldest first, with the
// summary and tree of the whole session. The view keeps the pages loaded so far.
function addPage(loaded, page) {
  const walk = (node) => {
    const ids = loaded.idsByPath.get(node.path) ?? [];
    loaded.idsByPath.set(node.path, ids.concat(node.request_ids));
    node.children.forEach(walk);
  };
  walk(page.tree);
  loaded.requests.push(...page.requests);
  loaded.session = page;
  loaded.cursor = page.next_cursor;
}

function sessionView(sessionId) {
  replace(main, heading("Session"), h("p", {}, "Loading…"));
  let loaded = null; // { session, requests, idsByPath, cursor }

  function draw(focusMore) {
    const s = loaded.session;
    const byId = new Map(loaded.requests.map((r) => [r.request_id, r]));
    const more = loaded.cursor
      ? h("button", { type: "button", id: "load-more" }, "Load more requests")
      : null;
    more?.addEventListener("click", loadMore);
    replace(main,
      heading(s.session_name ?? "(unnamed session)"),
      facts([
        ["Session id", h("code", {}, s.session_id)],
        ["Requests", fmtInt(s.total_requests)],
        ["Tokens", `${fmtInt(s.total_tokens)} (${fmtInt(s.prompt_tokens)} in, ${fmtInt(s.completion_tokens)} out)`],
        ["Cost", fmtCost(s.total_cost)],
        ["Duration", fmtDuration(s.duration_ms)],
        ["Started", fmtTime(s.created_at_ms)],
        ["Last activity", fmtTime(s.latest_request_created_at_ms)],
      ], "Session summary"),
      h("p", { id: "session-shown", class: "shown" },
        `Showing ${fmtInt(loaded.requests.length)} of ${fmtInt(s.total_requests)} requests, oldest first`,
        loaded.cursor ? "; totals and the path tree count them all." : "."),
      h("section", { "aria-labelledby": "tree-title" },
        h("h2", { id: "tree-title" }, "Session path tree"),
        h("ul", { class: "tree", "aria-label": "Requests by Helicone-Session-Path" },
          treeNode(s.tree, byId, loaded.idsByPath))),
      h("section", { "aria-labelledby": "timeline-title" },
        h("h2", { id: "timeline-title" }, "Timeline"), timeline(s, loaded.requests)),
      more ? h("p", { class: "pager" }, more) : null,
      h("p", {}, h("a", { href: `#/requests?session_id=${encodeURIComponent(sessionId)}` },
        "All requests of this session, with filters")));
    if (focusMore) (more ?? document.getElementById("session-shown")).focus();
  }

  async function loadMore() {
    const button = document.getElementById("load-more");
    if (button) button.disabled = true;
    const cursor = loaded.cursor;
    try {
      const page = await api.session(sessionId, cursor);
      if (loaded.cursor === cursor) addPage(loaded, page); // else a live update got there first
      draw(true);
    } catch (error) {
      if (button) button.disabled = false;
      append(main, errorBox(error));
    }
  }

  async function render() {
    // Again from the start (a live update): as many requests as were on screen.
    const shown = loaded?.requests.length ?? 0;
    const next = { session: null, requests: [], idsByPath: new Map(), cursor: null };
    addPage(next, await api.session(sessionId));
    while (next.cursor && next.requests.length < shown) {
      addPage(next, await api.session(sessionId, next.cursor));
    }
    loaded = next;
    draw(false);
  }
  return { render, live: true };
}

// -- one request ---------------------------------------------------------------------------

function partNode(part) {
  switch (part.kind) {
    case "text": return h("p", { class: "text" }, part.text);
    case "thinking":
      return h("details", { class: "thinking" }, h("summary", {}, "Thinking"), h("pre", {}, part.text));
    case "tool_call":
      return h("div", { class: "tool tool-call" },
        h("p", {}, h("strong", {}, "Tool call "), h("code", {}, part.name ?? "?"),
          part.id ? [" · id ", h("code", {}, part.id)] : null),
        h("pre", {}, part.input));
    case "tool_result":
      return h("div", { class: part.isError ? "tool tool-result tool-error" : "tool tool-result" },
        h("p", {}, h("strong", {}, part.isError ? "Tool error" : "Tool result"),
          part.id ? [" for ", h("code", {}, part.id)] : null),
        h("pre", {}, part.text));
    case "media": return h("p", { class: "media" }, part.text);
    default: return h("pre", { class: "json" }, JSON.stringify(part.value, null, 2));
  }
}

function turnsNode(turns, label) {
  if (!turns.length) return h("p", {}, "Nothing to show as a conversation; see the raw JSON.");
  return h("ol", { class: "conversation", "aria-label": label }, turns.map((turn) =>
    h("li", { class: `turn role-${String(turn.role).replace(/[^a-z_-]/gi, "")}` },
      h("h3", {}, turn.role), turn.parts.map(partNode))));
}

function rawToggle(item) {
  const id = "raw-json";
  const pre = h("pre", { id, class: "raw", hidden: true }, JSON.stringify({
    request_body: item.request_body,
    response_body: item.response_body,
    response_raw: item.response_raw,
  }, null, 2));
  const button = h("button", { type: "button", "aria-expanded": "false", "aria-controls": id }, "Show raw JSON");
  button.addEventListener("click", () => {
    const open = pre.hidden;
    pre.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide raw JSON" : "Show raw JSON";
  });
  return [button, pre];
}

function requestView(requestId) {
  replace(main, heading("Request"), h("p", {}, "Loading…"));
  async function render() {
    const r = await api.request(requestId);
    const asked = requestTurns(r.request_body);
    const answered = responseTurns(r.response_body);
    const calls = toolCalls(answered);
    const props = Object.entries(r.request_properties ?? {});
    const created = Date.parse(r.request_created_at);
    replace(main,
      heading(`${r.model ?? "Request"} · ${r.response_status}`),
      facts([
        ["Request id", h("code", {}, r.request_id)],
        ["Model", r.model], ["Provider", r.provider],
        ["Status", String(r.response_status)],
        ["Started", fmtTime(created)],
        ["Latency", fmtDuration(r.delay_ms)],
        ["Time to first token", r.time_to_first_token === null ? "–" : fmtDuration(r.time_to_first_token)],
        ["Tokens", `${fmtInt(r.prompt_tokens)} in · ${fmtInt(r.completion_tokens)} out · ${fmtInt(r.total_tokens)} total`],
        ["Cache tokens", `${fmtInt(r.prompt_cache_read_tokens)} read · ${fmtInt(r.prompt_cache_write_tokens)} written`],
        ["Cost", fmtCost(r.cost)],
        ["User", r.request_user_id],
        ["Session", r.session_id ? link(r.session_name ?? r.session_id, "session", r.session_id) : null],
        ["Session path", r.session_path],
      ], "Request details"),
      props.length ? table("Properties", ["Key", "Value"], props) : null,
      h("section", { "aria-labelledby": "request-title" },
        h("h2", { id: "request-title" }, "Request"), turnsNode(asked, "Request messages")),
      h("section", { "aria-labelledby": "response-title" },
        h("h2", { id: "response-title" }, "Response"),
        calls.length ? h("p", {}, `${calls.length} tool call${calls.length === 1 ? "" : "s"}: `,
          calls.map((c, i) => [i ? ", " : "", h("code", {}, c.name ?? "?")])) : null,
        turnsNode(answered, "Response messages")),
      h("section", { "aria-labelledby": "raw-title" },
        h("h2", { id: "raw-title" }, "Raw"), rawToggle(r)));
  }
  return { render, live: false }; // a stored request never changes
}

// -- requests with filters -----------------------------------------------------------------

const FILTER_FIELDS = [
  ["from", "From", "datetime-local"], ["to", "To", "datetime-local"],
  ["model", "Model", "text"], ["status", "Status", "number"], ["user", "User", "text"],
  ["property", "Property (key=value)", "text"], ["q", "Body contains", "search"],
];

function requestFilter(params) {
  const filter = {};
  const set = (key, value) => { if (value !== null && value !== "") filter[key] = value; };
  set("model", params.get("model"));
  set("user_id", params.get("user"));
  set("session_id", params.get("session_id"));
  set("search", params.get("q"));
  if (params.get("status")) filter.status = Number(params.get("status"));
  if (params.get("from")) filter.created_after_ms = new Date(params.get("from")).getTime();
  if (params.get("to")) filter.created_before_ms = new Date(params.get("to")).getTime();
  const property = params.get("property");
  if (property && property.includes("=")) {
    const at = property.indexOf("=");
    filter.properties = { [property.slice(0, at).trim().toLowerCase()]: property.slice(at + 1).trim() };
  }
  return filter;
}

function requestsView(params) {
  const inputs = FILTER_FIELDS.map(([name, label, type]) => {
    const id = `filter-${name}`;
    const input = h("input", { id, name, type, value: params.get(name) ?? "" });
    return [name, h("div", { class: "field" }, h("label", { for: id }, label), input), input];
  });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter requests" },
    inputs.map(([, field]) => field),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Apply"),
      h("a", { href: "#/requests" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (params.get("session_id")) next.set("session_id", params.get("session_id"));
    for (const [name, , input] of inputs) if (input.value.trim()) next.set(name, input.value.trim());
    location.hash = `#/requests?${next}`;
  });
  const results = h("div", { id: "results" });
  const scope = params.get("session_id");
  replace(main, heading(scope ? "Requests of one session" : "Requests"), form, results);

  async function render() {
    let filter;
    try { filter = requestFilter(params); } catch (error) { replace(results, errorBox(error)); return; }
    const data = await api.requests({ filter, cursor: params.get("cursor"), limit: REQUESTS_PER_PAGE });
    const rows = data.items.map((r) => [
      link(fmtTime(r.created_at_ms), "request", r.request_id),
      r.model ?? "–",
      h("span", { class: r.status >= 200 && r.status < 300 ? "ok" : "bad" }, String(r.status)),
      fmtInt(r.total_tokens), fmtCost(r.cost), fmtDuration(r.delay_ms),
      r.user_id ?? "–",
      r.session_id ? link(r.session_name ?? r.session_id, "session", r.session_id) : "–",
      r.session_path ?? "–",
    ]);
    const older = new URLSearchParams(params);
    if (data.next_cursor) older.set("cursor", data.next_cursor);
    const newest = new URLSearchParams(params);
    newest.delete("cursor");
    replace(results,
      rows.length ? table(params.get("cursor") ? "Requests, older page" : "Requests, newest first",
        ["Time", "Model", "Status", "Tokens", "Cost", "Latency", "User", "Session", "Path"],
        rows, { numeric: [3, 4, 5] })
        : h("p", {}, "No request matches these filters."),
      h("nav", { class: "pager", "aria-label": "Request pages" },
        params.get("cursor") ? h("a", { href: `#/requests?${newest}` }, "↑ Newest") : null,
        data.next_cursor ? h("a", { href: `#/requests?${older}` }, "Older →") : null));
  }
  return { render, live: true };
}

// -- routing and live updates --------------------------------------------------------------

async function show(view) {
  current = view;
  try {
    await view.render();
  } catch (error) {
    if (error instanceof AuthError) replace(main, ...keyForm());
    else append(main, errorBox(error));
  }
}

function route() {
  const { parts, params } = parseHash();
  const [name, id] = parts;
  for (const a of document.querySelectorAll("[data-nav]")) {
    const here = a.dataset.nav === (name === "requests" || name === "request" ? "requests" : "sessions");
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  let view;
  if (name === "session" && id !== undefined) view = sessionView(id);
  else if (name === "request" && id !== undefined) view = requestView(id);
  else if (name === "requests") view = requestsView(params);
  else view = sessionsView(params);
  document.title = `${name === "requests" ? "Requests" : name ?? "Sessions"} · Heliograph`;
  show(view).then(() => document.getElementById("view-title")?.focus({ preventScroll: true }));
}

async function poll() {
  try {
    if (!document.hidden) {
      const { version } = await api.version();
      if (seenVersion !== null && version !== seenVersion && current?.live) {
        await current.render();
        live.textContent = `New logs shown at ${fmtTime(Date.now())}`;
      } else if (seenVersion === null) {
        live.textContent = "Live: new logs appear as they arrive";
      }
      seenVersion = version;
      document.body.dataset.version = String(version);
    }
  } catch (error) {
    live.textContent = error instanceof AuthError ? "Waiting for a key" : "Receiver unreachable; retrying";
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("hashchange", route);
route();
poll();
