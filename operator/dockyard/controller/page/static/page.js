// dockyard status page: polls api/view every second and redraws; no framework, no build.
// Every value from the controller goes in as text (textContent), never as HTML.
"use strict";

(() => {
  const POLL_MS = 1000;
  const state = { appsPage: 1, devicesPage: 1, q: "", dq: "", selected: null, timer: null };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const badge = (text, st) => el("span", { class: "badge", "data-state": st || text, text });
  const clock = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleTimeString([], { hour12: false }) : "");

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 90) return `${seconds}s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
    return `${Math.round(seconds / 3600)}h`;
  }

  function pager(node, view, onPage) {
    node.replaceChildren();
    if (view.pages <= 1) return;
    const prev = el("button", { type: "button", text: "‹ Previous", disabled: view.page <= 1 });
    const next = el("button", { type: "button", text: "Next ›", disabled: view.page >= view.pages });
    prev.addEventListener("click", () => onPage(view.page - 1));
    next.addEventListener("click", () => onPage(view.page + 1));
    node.append(el("span", { text: `page ${view.page} of ${view.pages} (${view.total})` }), prev, next);
  }

  // ---- sections ------------------------------------------------------------------------

  function renderSummary(view) {
    const counts = view.apps.counts;
    const summary = $("summary");
    summary.replaceChildren(
      ...["Degraded", "Progressing", "Ready"].map((s) => badge(`${counts[s] || 0} ${s}`, counts[s] ? s : "none")),
      el("span", { text: `${view.controller.apps} app(s) on ${view.controller.hosts} host(s)` }),
    );
    if (!view.controller.ready) summary.append(badge("syncing", "Progressing"));
    document.title = counts.Degraded ? `(${counts.Degraded} degraded) dockyard` : "dockyard · fleet status";
  }

  function renderSources(sources) {
    // A source whose newest read failed: its error names the file, even when no app could be named.
    $("sources-section").hidden = !sources.length;
    $("sources").replaceChildren(...sources.map((s) =>
      el("li", { "data-source": s.id }, el("strong", { text: s.id }), el("pre", { class: "why", text: s.error }))));
  }

  function renderApps(apps) {
    const hosts = apps.hosts;
    const head = el("tr", {}, el("th", { text: "App" }), el("th", { text: "State" }),
      el("th", { text: "Revision" }), el("th", { text: "Healthy / running / desired" }),
      ...hosts.map((h) => el("th", { class: "host", text: h })));
    $("apps").tHead.replaceChildren(head);
    const body = $("apps").tBodies[0];
    if (!apps.items.length) {
      body.replaceChildren(el("tr", {}, el("td", { class: "empty", colSpan: 4 + hosts.length,
        text: apps.total ? "No app matches the filter." : "No apps yet: the sources have none." })));
    } else {
      body.replaceChildren(...apps.items.map((app) => {
        const why = [app.reason, app.message].filter(Boolean).join(": ");
        const row = el("tr", { "data-app": app.name, "data-state": app.state, class: app.name === state.selected ? "selected" : "" },
          el("td", { class: "name", text: app.name }),
          el("td", { class: "state" }, badge(app.state), why ? el("div", { class: "why", text: why }) : null),
          el("td", { class: "mono", text: app.revision ? `#${app.revision}` : "–" }),
          el("td", { text: `${app.healthy} / ${app.running} / ${app.desired}` }),
          ...hosts.map((h) => {
            const cell = app.hosts[h];
            if (!cell) return el("td", { class: "host", text: "·" });
            return el("td", { class: "host", "data-host": h },
              badge(`${cell.running}/${cell.desired}`, cell.state));
          }));
        row.addEventListener("click", () => select(app.name));
        return row;
      }));
    }
    const c = apps.counts;
    $("app-counts").textContent = `${apps.total} · ${c.Degraded} degraded, ${c.Progressing} progressing, ${c.Ready} ready`;
    pager($("apps-pager"), apps, (p) => { state.appsPage = p; refresh(); });
  }

  function renderRollouts(apps) {
    const cards = apps.items.filter((a) => a.rollout).map((a) => {
      const r = a.rollout;
      const parts = [el("strong", { text: a.name }),
        r.revision ? el("span", { class: "mono", text: `revision #${r.revision}` }) : null,
        badge(r.active ? "rolling-out" : r.phase || "rolling-out")];
      const card = el("div", { class: "rollout", "data-app": a.name }, el("div", { class: "title" }, ...parts));
      if (r.batch) {
        const pct = Math.round((100 * r.batch.done) / Math.max(1, r.batch.of));
        const fill = el("span");
        fill.style.width = `${pct}%`;  // CSSOM, which the page's CSP allows (no inline styles)
        card.append(el("div", { class: "progress", title: `${pct}%` }, fill));
      }
      const facts = el("div", { class: "facts" });
      if (r.batch) facts.append(el("span", { class: "batch" }, "batch ", el("b", { text: `${r.batch.done}/${r.batch.of}` }), " done", r.service ? ` (service ${r.service})` : ""));
      if (r.wave) facts.append(el("span", { class: "wave" }, "wave ", el("b", { text: `${r.wave.number}/${r.wave.of}` }), `: ${r.wave.hosts.join(", ")}`));
      facts.append(el("span", { class: "healthy" }, el("b", { text: `${r.healthy}` }), ` healthy, ${r.running} running of ${r.desired}`));
      if (r.pinnedTo) facts.append(el("span", { text: `pinned to revision #${r.pinnedTo}` }));
      card.append(facts);
      if (r.message) card.append(el("div", { class: "why", text: r.message }));
      return card;
    });
    $("rollouts").replaceChildren(...(cards.length ? cards : [el("p", { class: "empty", text: "No rollout in progress." })]));
  }

  function renderHosts(hosts) {
    $("hosts").tBodies[0].replaceChildren(...hosts.map((h) => el("tr", { "data-host": h.name },
      el("td", { class: "name", text: h.name }),
      el("td", {}, h.reachable ? badge("reachable") : badge("unreachable"),
        h.reachable || h.downFor === null ? null : el("div", { class: "why", text: `dark for ${ago(h.downFor)}` })),
      el("td", { class: "mono", text: h.engineVersion || (h.reachable ? "…" : "–") }),
      el("td", { text: String(h.containers) }),
      el("td", { class: "mono", text: Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(" ") || "–" }))));
  }

  function renderFleet(fleet) {
    const section = $("fleet-section");
    section.hidden = !fleet;
    if (!fleet) return;
    $("device-total").textContent = `${fleet.devices} device(s)`;
    $("device-counts").replaceChildren(...Object.entries(fleet.counts).map(([s, n]) =>
      el("div", { class: "tile", "data-state": s }, el("span", { class: "n", text: String(n) }), s)));
    const body = $("devices").tBodies[0];
    body.replaceChildren(...(fleet.items.length ? fleet.items.map((d) => el("tr", { "data-device": d.name },
      el("td", { class: "name", text: d.name }), el("td", {}, badge(d.state)),
      el("td", { class: "why", text: d.detail }), el("td", { class: "mono", text: d.revision ?? "–" }),
      el("td", { text: d.lastReport || "–" })))
      : [el("tr", {}, el("td", { class: "empty", colSpan: 5, text: "Every device is converged." }))]));
    pager($("devices-pager"), fleet, (p) => { state.devicesPage = p; refresh(); });
  }

  function renderEvents(events) {
    $("events").replaceChildren(...(events.length ? events.map((e) => el("li", { "data-type": e.type },
      el("span", { class: "time", text: clock(e.time) }), el("span", { class: "object", text: e.object }),
      el("span", { class: "reason", text: e.reason }), el("span", { class: "message", text: e.message })))
      : [el("li", { class: "empty", text: "Nothing has happened yet." })]));
  }

  function renderDetail(app) {
    $("detail").hidden = false;
    $("detail-name").replaceChildren(el("span", { text: app.name }), " ", badge(app.state));
    $("detail-conditions").tBodies[0].replaceChildren(...app.conditions.map((c) => el("tr", {},
      el("td", { text: c.type }), el("td", { text: c.status }),
      el("td", {}, el("div", { text: c.reason }), c.message ? el("div", { class: "why", text: c.message }) : null))));
    $("detail-services").tBodies[0].replaceChildren(...app.services.map((s) => el("tr", {},
      el("td", { class: "name", text: s.name }),
      el("td", { text: `${s.healthy} healthy, ${s.running} running of ${s.desired}` + (s.restarts ? `, ${s.restarts} restart(s)` : "") }),
      el("td", { class: "why", text: s.containers.map((c) => `${c.name}${c.host && c.host !== "local" ? "@" + c.host : ""}: ${c.status || c.state}`).join("; ") }))));
    const revs = app.history.revisions;
    $("detail-revisions").replaceChildren(...(revs.length ? revs.map((r) => el("li", { class: r.revision === app.history.current ? "current" : "" },
      el("div", {}, el("strong", { class: "mono", text: `#${r.revision}` }), " ", badge(r.outcome), " ",
        el("span", { class: "why", text: `${clock(r.created)}${r.by ? " by " + r.by : ""}${r.revision === app.history.current ? " · running now" : ""}` })),
      el("ul", {}, ...(r.changes || []).map((ch) => el("li", { text: ch }))),
      r.message ? el("div", { class: "why", text: r.message }) : null))
      : [el("li", { class: "empty", text: "No revision recorded yet." })]));
  }

  // ---- polling -------------------------------------------------------------------------

  function setLive(ok, detail) {
    const live = $("live");
    live.dataset.state = ok ? "live" : "lost";
    live.textContent = ok ? `live · ${clock(Date.now() / 1000)}` : `connection lost (${detail}); retrying`;
  }

  async function get(path) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.assign("./");  // the session ended (the controller restarted)
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  async function poll() {
    try {
      const params = new URLSearchParams({ apps: state.appsPage, devices: state.devicesPage, q: state.q, dq: state.dq });
      const view = await get(`api/view?${params}`);
      renderSummary(view);
      renderSources(view.sources || []);
      renderApps(view.apps);
      renderRollouts(view.apps);
      renderHosts(view.hosts);
      renderFleet(view.fleet);
      renderEvents(view.events);
      if (state.selected) renderDetail(await get(`api/app/${encodeURIComponent(state.selected)}`));
      setLive(true);
    } catch (err) {
      setLive(false, err.message);
    }
  }

  // One polling loop: a click or a filter starts a new round and the old one stops.
  let round = 0;
  async function refresh() {
    const mine = ++round;
    clearTimeout(state.timer);
    await poll();
    if (mine === round) state.timer = setTimeout(refresh, POLL_MS);
  }

  function select(name) {
    state.selected = name;
    refresh();
  }

  function debounce(fn) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), 250); };
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("detail-close").addEventListener("click", () => { state.selected = null; $("detail").hidden = true; refresh(); });
    $("app-filter").addEventListener("input", debounce((e) => { state.q = e.target.value; state.appsPage = 1; refresh(); }));
    $("device-filter").addEventListener("input", debounce((e) => { state.dq = e.target.value; state.devicesPage = 1; refresh(); }));
    refresh();
  });
})();
