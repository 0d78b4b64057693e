/* onshore dashboard: each page asks the API and renders what it answers; nothing is computed
   here beyond sorting, filtering and formatting. No build step, no web fetches. */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const today = () => new Date().toISOString().slice(0, 10);
const fmt = (v) => {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en");
    return Math.abs(v) >= 1e4 ? Math.round(v).toLocaleString("en")
      : v.toLocaleString("en", { maximumSignificantDigits: 4 });
  }
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};
const badge = (v) => `<span class="badge v-${esc(v)}">${esc(String(v).replace("_", " "))}</span>`;
const params = new URLSearchParams(location.search);

/* --- the API ------------------------------------------------------------------------------ */
function key() { return localStorage.getItem("onshore-key") || ""; }
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (key()) headers["X-API-Key"] = key();
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body });
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const e = new Error(body.detail || body.title || `HTTP ${r.status}`);
    e.status = r.status; e.problem = body; throw e;
  }
  return body;
}
function problemText(e) {
  let s = `${e.problem && e.problem.title ? e.problem.title + ": " : ""}${e.message}`;
  if (e.status === 401) s += " — enter an API key at the top right.";
  if (e.status === 403) s += " — this key's role is too low for this.";
  const rows = (e.problem && e.problem.errors) || [];
  if (rows.length) {
    s += "<ul class=tight>" + rows.slice(0, 50).map((r) =>
      `<li>${esc(r.message || (r.location + ": " + r.message))}</li>`).join("") + "</ul>";
    return `<div class="state error">${esc(s.split("<ul")[0])}${s.slice(s.indexOf("<ul"))}</div>`;
  }
  return `<div class="state error">${esc(s)}</div>`;
}
const loading = (what) => `<p class="state">Loading ${esc(what)}…</p>`;
const empty = (what) => `<p class="state">${esc(what)}</p>`;

async function into(el, what, fn) {
  el.innerHTML = loading(what);
  try { await fn(); } catch (e) { el.innerHTML = problemText(e); console.error(e); }
}

function table(rows, cols, opts = {}) {
  if (!rows || !rows.length) return empty(opts.empty || "Nothing to show.");
  cols = cols || Object.keys(rows[0]);
  const head = cols.map((c) => {
    const [k, label] = Array.isArray(c) ? c : [c, c];
    const num = typeof rows[0][k] === "number" ? " class=num" : "";
    return `<th${num}>${esc(label)}</th>`;
  }).join("");
  const body = rows.map((r) => "<tr>" + cols.map((c) => {
    const k = Array.isArray(c) ? c[0] : c;
    const cell = opts.cell && opts.cell[k] ? opts.cell[k](r[k], r) : esc(fmt(r[k]));
    return `<td${typeof r[k] === "number" ? " class=num" : ""}>${cell}</td>`;
  }).join("") + "</tr>").join("");
  return `<div class="scroll"${opts.height ? ` style="max-height:${opts.height}px"` : ""}>` +
    `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function plot(el, data, layout) {
  if (!window.Plotly) { el.innerHTML = empty("The chart library did not load."); return; }
  const base = { margin: { l: 60, r: 20, t: 30, b: 50 }, font: { size: 12 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff", height: 340 };
  el.innerHTML = "";
  Plotly.newPlot(el, data, Object.assign(base, layout || {}),
    { displaylogo: false, responsive: true, topojsonURL: "/static/vendor/topojson/" });
}

function csvDownload(rows, cols, name) {
  const q = (v) => { const s = fmt(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  const text = [cols.join(","), ...rows.map((r) => cols.map((c) => q(r[c])).join(","))].join("\n");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  a.download = name; a.click();
}

async function job(kind, body, onProgress) {
  let j = await api(`/api/jobs/${kind}`, { method: "POST", json: body });
  while (j.status === "queued" || j.status === "running") {
    onProgress(j);
    await new Promise((r) => setTimeout(r, 400));
    j = await api(`/api/jobs/${j.id}`);
  }
  if (j.status === "failed") {
    const e = new Error((j.error && j.error.detail) || "the job failed");
    e.problem = j.error; throw e;
  }
  if (j.status === "cancelled") throw new Error("the job was cancelled");
  return j;
}
function progressBar(j) {
  return `<div class="row"><div class="progress"><div style="width:${Math.round(j.progress * 100)}%">` +
    `</div></div><span class="muted">${esc(j.message)} (${Math.round(j.progress * 100)} %)</span>` +
    ` <button class="small plain" data-cancel="${esc(j.id)}">Cancel</button></div>`;
}
document.addEventListener("click", (ev) => {
  const id = ev.target && ev.target.dataset && ev.target.dataset.cancel;
  if (id) api(`/api/jobs/${id}`, { method: "DELETE" }).catch(() => {});
});

let buyersCache = null;
async function buyers() {
  if (!buyersCache) buyersCache = (await api("/api/rules")).buyers;
  return buyersCache;
}
async function buyerSelect(selected) {
  const b = await buyers();
  return `<select name="buyer">` + Object.entries(b).map(([k, v]) =>
    `<option value="${esc(k)}"${k === selected ? " selected" : ""}>${esc(k)} — ${esc(v.title)}</option>`
  ).join("") + "</select>";
}

/* --- pages -------------------------------------------------------------------------------- */
const pages = {};

/* stage colours, fixed by the stage's place in the chain (the API lists stages in that order) */
const STAGE_COLOURS = ["#8c564b", "#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#17becf",
  "#9467bd", "#1f77b4", "#e377c2", "#7f7f7f", "#393b79", "#637939"];

function mapCard() {
  return `<div class="card"><h2>World map of the plants</h2>
  <form class="bar" id="mf"><label>Stage<select name="stage"><option value="">every stage</option></select></label>
  <label>Status<select name="status"><option value="">every status</option></select></label>
  <label>Controlling country<select name="control"><option value="">every country</option></select></label>
  <span class="muted" id="mapcount"></span></form>
  <div id="map" class="chart map"></div>
  <p class="muted">Each point is a plant at its recorded coordinates, coloured by stage; the controlling
  country is that of the plant's ultimate controller (ownership and control, not the plant's location).
  Market pools (a country's unidentified supply) are not plants and are not shown.</p></div>
  <div class="card"><h2>Capacity by stage and country</h2>
  <form class="bar" id="cbf"><label>Country of<select name="by"><option value="country">the plant's location</option>
  <option value="control">the controlling company</option></select></label><span class="muted">for the plants the map shows</span></form>
  <div id="capmap" class="chart"></div><p class="muted" id="capnote"></p></div>`;
}

async function networkMap() {
  const form = $("#mf"), colours = {};
  let first = true, data = null;
  const opt = (o) => `<option value="${esc(o.value)}">${esc(o.value)} (${fmt(o.plants)})</option>`;
  const drawCapacity = () => {
    const cap = $("#cbf [name=by]").value === "control" ? data.capacity_by_control : data.capacity_by_country;
    const rows = cap.rows;
    if (!rows.length) { $("#capmap").innerHTML = empty("No plant with a recorded capacity fits these filters."); $("#capnote").textContent = ""; return; }
    const stages = [...new Set(rows.map((r) => `${r.stage} (${r.unit})`))];
    const countries = cap.countries.slice(0, 30);
    const cell = {}; rows.forEach((r) => { cell[`${r.stage} (${r.unit})|${r.country}`] = r; });
    const at = (s, c) => cell[`${s}|${c}`];
    plot($("#capmap"), [{ type: "heatmap", x: countries, y: stages, zmin: 0, zmax: 100,
      colorscale: [[0, "#dbe8f5"], [0.25, "#8db4da"], [1, "#0b3c6f"]], xgap: 1, ygap: 1,
      z: stages.map((s) => countries.map((c) => (at(s, c) ? 100 * at(s, c).share : null))),
      text: stages.map((s) => countries.map((c) => (at(s, c) ? `${fmt(at(s, c).capacity)} ${at(s, c).unit}/yr, ${at(s, c).plants} plant(s)` : ""))),
      hovertemplate: "%{y} in %{x}: %{z:.1f} % of the stage's capacity<br>%{text}<extra></extra>",
      colorbar: { title: { text: "% of stage" }, thickness: 12 } }],
    { height: Math.max(260, 70 + 26 * stages.length), margin: { l: 150, r: 20, t: 10, b: 60 },
      xaxis: { type: "category", tickangle: 0 }, yaxis: { autorange: "reversed", type: "category" } });
    const more = cap.countries.length - countries.length;
    $("#capnote").textContent = "Share of each stage's yearly capacity (per unit) by country, the largest " +
      "countries first; hover for the capacity." +
      (more > 0 ? ` ${more} smaller ${more === 1 ? "country is" : "countries are"} not shown.` : "");
  };
  const load = () => into($("#map"), "the map", async () => {
    const q = new URLSearchParams();
    for (const k of ["stage", "status", "control"]) { const v = form.elements[k].value; if (v) q.set(k, v); }
    data = await api(`/api/map?${q}`);
    if (first) {
      for (const k of ["stage", "status", "control"]) form.elements[k].innerHTML += data.options[k].map(opt).join("");
      data.options.stage.forEach((o, i) => { colours[o.value] = STAGE_COLOURS[i % STAGE_COLOURS.length]; });
      first = false;
    }
    const unlocated = data.shown - data.located;
    $("#mapcount").textContent = `${fmt(data.located)} plants on the map` +
      (unlocated ? ` (${fmt(unlocated)} more without coordinates)` : "") + ` of ${fmt(data.plants)}`;
    const stages = [...new Set(data.points.map((p) => p.stage))];
    const traces = stages.map((st) => {
      const pts = data.points.filter((p) => p.stage === st);
      return { type: "scattergeo", mode: "markers", name: st, lon: pts.map((p) => p.lon), lat: pts.map((p) => p.lat),
        marker: { size: 7, color: colours[st], opacity: 0.85, line: { width: 0.5, color: "#fff" } },
        customdata: pts.map((p) => [p.name, p.company, p.status, p.country, p.control,
          p.capacity === null ? "capacity not recorded" : `${fmt(p.capacity)} ${p.unit}/yr`]),
        hovertemplate: "<b>%{customdata[0]}</b><br>%{customdata[1]} · " + st +
          " · %{customdata[2]}<br>in %{customdata[3]}, controlled from %{customdata[4]}<br>%{customdata[5]}<extra></extra>" };
    });
    if (!traces.length) {
      traces.push({ type: "scattergeo", mode: "markers", lon: [], lat: [], showlegend: false });
    }
    plot($("#map"), traces, { height: 440, margin: { l: 0, r: 0, t: 0, b: 0 }, showlegend: true,
      legend: { x: 0, y: 0.5, yanchor: "middle", bgcolor: "rgba(255,255,255,.8)", title: { text: "stage" } },
      geo: { projection: { type: "natural earth" }, showcountries: true, countrycolor: "#b9c3cf",
        showland: true, landcolor: "#eef1ec", showocean: true, oceancolor: "#f4f8fc", showlakes: false,
        coastlinecolor: "#9aa5b1", showframe: false, lataxis: { range: [-57, 84] } } });
    if (!data.points.length) {
      $("#map").insertAdjacentHTML("afterbegin", `<p class="state">No located plant fits these filters.</p>`);
    }
    drawCapacity();
    $("#map").dataset.query = q.toString();  /* what is drawn (for tests and bookmarks) */
  });
  form.onchange = load;
  $("#cbf [name=by]").onchange = () => { if (data) drawCapacity(); };
  await load();
}

pages.network = async () => {
  main().innerHTML = `<h1>Network</h1><div id="kpis" class="kpis">${loading("the store")}</div>
  ${mapCard()}
  <div class="card"><h2>Facilities by stage and country</h2><div id="c1" class="chart"></div></div>
  <div class="card"><h2>Facilities</h2>
  <form class="bar" id="ff"><label>Search<input name="q" placeholder="id, name, company…"></label>
  <label>Stage<select name="stage"><option value="">every stage</option></select></label>
  <label>Country<input name="country" size="4" placeholder="CN" maxlength="2"></label>
  <button>Filter</button></form><div id="ft"></div><div class="pager" id="fp"></div></div>`;
  const info = await api("/api/info").catch((e) => { $("#kpis").innerHTML = problemText(e); });
  if (!info) return;
  const c = info.counts;
  $("#kpis").innerHTML = [["facilities", c.facilities], ["companies", c.companies],
    ["flows", c.flows], ["materials", c.materials], ["countries", info.countries],
    ["ownership links", c.ownership]].map(([k, v]) =>
    `<div class="kpi"><b>${fmt(v)}</b><span>${k}</span></div>`).join("");
  if (!c.facilities) {
    $("#map").innerHTML = empty("The store is empty: import files (POST /api/import) or run " +
      "`onshore import --reference`.");
    $("#ft").innerHTML = empty("No facility yet.");
    return;
  }
  const stages = Object.keys(info.stages);
  $("#ff [name=stage]").innerHTML += stages.map((s) => `<option>${esc(s)}</option>`).join("");
  networkMap().catch((e) => { $("#map").innerHTML = problemText(e); });
  into($("#c1"), "the chart", async () => {
    const o = await api("/api/overview");
    const f = o.facilities, top = f.columns.slice(0, 12);
    const data = top.map((country, j) => ({ type: "bar", name: country, x: f.index,
      y: f.values.map((row) => row[j]) }));
    if (f.columns.length > 12) {
      data.push({ type: "bar", name: "other", x: f.index, y: f.other, marker: { color: "#b0b7c0" } });
    }
    plot($("#c1"), data, { barmode: "stack", yaxis: { title: "facilities" },
      legend: { orientation: "h", y: -0.2 } });
  });
  let offset = 0;
  const load = () => into($("#ft"), "facilities", async () => {
    const fd = new FormData($("#ff"));
    const q = new URLSearchParams({ offset, limit: 25, q: fd.get("q") || "" });
    if (fd.get("stage")) q.append("where", `stage=${fd.get("stage")}`);
    if (fd.get("country")) q.append("where", `country=${fd.get("country").toUpperCase()}`);
    const t = await api(`/api/tables/facilities?${q}`);
    $("#ft").innerHTML = table(t.rows, ["id", "name", "company", "stage", "country", "material",
      "capacity", "unit", "status"], { empty: "No facility fits these filters.", cell: {
        id: (v, r) => ["cell", "pack"].includes(r.stage) ? `<a href="/product/${encodeURIComponent(v)}">${esc(v)}</a>` : esc(v) } });
    $("#fp").innerHTML = `<button class="small plain" id="prev" ${offset ? "" : "disabled"}>Previous</button>
      <span>${t.total ? offset + 1 : 0}–${Math.min(offset + 25, t.total)} of ${t.total}</span>
      <button class="small plain" id="next" ${offset + 25 < t.total ? "" : "disabled"}>Next</button>`;
    $("#prev").onclick = () => { offset = Math.max(0, offset - 25); load(); };
    $("#next").onclick = () => { offset += 25; load(); };
  });
  $("#ff").onsubmit = (e) => { e.preventDefault(); offset = 0; load(); };
  load();
};

pages.product = async () => {
  const fromPath = decodeURIComponent(location.pathname.split("/")[2] || "");
  const product = fromPath || params.get("id") || "";
  const buyer = params.get("buyer") || "dod", on = params.get("on") || today();
  main().innerHTML = `<h1>Product</h1><form class="bar" id="pf">
    <label>Product<select name="product"><option value="">loading…</option></select></label>
    <label>Buyer${await buyerSelect(buyer).catch(() => "<select name=buyer><option>dod</option></select>")}</label>
    <label>Date<input type="date" name="on" value="${esc(on)}"></label><button>Show</button></form>
    <div id="pbody">${product ? loading("the product") : empty("Choose a product to see where it comes from and whether the buyer may buy it.")}</div>`;
  const list = await api("/api/products").catch(() => []);
  const sel = $("#pf [name=product]");
  sel.innerHTML = `<option value="">— choose —</option>` + list.map((p) =>
    `<option value="${esc(p.id)}"${p.id === product ? " selected" : ""}>${esc(p.name)} (${esc(p.id)}, ${esc(p.country)})</option>`).join("");
  $("#pf").onsubmit = (e) => {
    e.preventDefault();
    const fd = new FormData($("#pf"));
    if (!fd.get("product")) return;
    location.href = `/product/${encodeURIComponent(fd.get("product"))}?buyer=${fd.get("buyer")}&on=${fd.get("on")}`;
  };
  if (!product) return;
  const body = $("#pbody");
  into(body, "the product", async () => {
    const d = await api(`/api/product/${encodeURIComponent(product)}?buyer=${encodeURIComponent(buyer)}&on=${on}`);
    const f = d.facility || {};
    const rep = `/api/report/${encodeURIComponent(product)}?buyer=${encodeURIComponent(buyer)}&on=${on}`;
    body.innerHTML = `<div class="kpis">
      <div class="kpi"><b>${esc(f.name || product)}</b><span>${esc(f.stage || "")} plant of ${esc(f.company || "")} in ${esc(f.country || "")}</span></div>
      <div class="kpi"><div class="big">${badge(d.worst)}</div><span>worst verdict for ${esc(buyer)} on ${esc(d.on)}</span></div>
      <div class="kpi"><b>${d.verdicts.length}</b><span>rules binding the buyer</span></div>
      <div class="kpi"><a href="${rep}" target="_blank">HTML report</a><span>&nbsp;with evidence and sources</span></div></div>
      <p class="muted">Data basis: ${esc(d.data_basis)}</p>
      <p class="muted" id="period">Period: ${esc(d.period_basis || "")}; the verdicts, the origin and the trace are of these flows</p>
      <div class="card"><h2>Verdicts for ${esc(buyer)} on ${esc(d.on)}</h2><div id="verdicts"></div></div>
      <div class="grid"><div class="card"><h2>Origin (stage and country)</h2><div id="sankey" class="chart"></div>
      <p class="muted">${esc(d.sankey_note)}</p></div>
      <div class="card"><h2>Verdicts at each rule date</h2><div id="tl" class="chart"></div></div></div>
      <div class="card"><h2>Trace: origin of one unit by raw material, stage and country</h2><div id="trace"></div></div>
      <div class="card"><h2>Heaviest paths from the largest mining and refining origins</h2><div id="paths"></div></div>`;
    $("#verdicts").innerHTML = table(d.verdicts, [["verdict", "verdict"], ["rule_id", "rule"], ["reason", "reason"], ["settle", "what would settle it"]], {
      empty: "No rule binds this buyer.", cell: {
        verdict: (v) => badge(v),
        rule_id: (v, r) => `<b>${esc(v)}</b><div class="muted">${esc(r.title)}</div>`,
        reason: (v, r) => `${esc(v)}${r.evidence.length ? `<details><summary>evidence (${r.evidence.length})</summary><ul class=tight>${r.evidence.map((x) => `<li>${esc(x)}</li>`).join("")}</ul></details>` : ""}`,
        settle: (v) => v.length ? `<ul class=tight>${v.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : '<span class="muted">—</span>',
      } });
    const s = d.sankey || {};
    if (s.labels && s.labels.length) {
      plot($("#sankey"), [{ type: "sankey", orientation: "h", node: { label: s.labels, pad: 12, thickness: 14 },
        link: { source: s.source, target: s.target, value: s.value } }], { height: 380, margin: { l: 10, r: 10, t: 10, b: 10 } });
    } else $("#sankey").innerHTML = empty("No traced origin to draw.");
    const sev = { NOT_APPLICABLE: 0, INFO: 1, ALLOWED: 2, UNKNOWN: 3, PROHIBITED: 4 };
    const tl = d.timeline;
    plot($("#tl"), [{ type: "scatter", mode: "lines+markers", line: { shape: "hv" }, x: tl.map((t) => t.date),
      y: tl.map((t) => sev[t.worst]), text: tl.map((t) => t.changed.map((c) => `${c.rule_id}: ${c.verdict}`).join("<br>") || "no change"),
      hovertemplate: "%{x}<br>%{text}<extra></extra>" }], { height: 340,
      yaxis: { tickvals: [0, 1, 2, 3, 4], ticktext: ["not applicable", "info", "allowed", "unknown", "prohibited"], range: [-0.3, 4.3] },
      shapes: [{ type: "line", x0: d.on, x1: d.on, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#888" } }],
      margin: { l: 90, r: 20, t: 20, b: 40 } });
    $("#tl").insertAdjacentHTML("afterend", table(tl.filter((t) => t.changed.length).map((t) => ({ date: t.date, worst: t.worst,
      changes: t.changed.map((c) => `${c.rule_id} → ${c.verdict}`).join("; ") })), ["date", "worst", "changes"],
    { height: 180, cell: { worst: (v) => badge(v) } }));
    $("#trace").innerHTML = table(d.trace, ["raw", "stage", "country", "quantity", "share"], { empty: "Nothing traced." });
    $("#paths").innerHTML = (d.paths || []).length ? (d.paths || []).map((t) => `<h3>${esc(Object.entries(t.tag).map(([k, v]) => `${k} ${v}`).join(", "))}: ${esc(fmt(t.quantity))} per unit</h3>` +
      table(t.paths.map((p) => ({ weight: p.weight, path: p.residual ? "(the other paths)" : p.names.join(" → ") })), ["weight", "path"])).join("")
      : empty("No traced origin to explain.");
  });
};

pages.compliance = async () => {
  const buyer = params.get("buyer") || "dod", on = params.get("on") || today();
  main().innerHTML = `<h1>Compliance</h1><form class="bar" id="cf">
    <label>Buyer${await buyerSelect(buyer).catch(() => "<select name=buyer><option>dod</option></select>")}</label>
    <label>Date<input type="date" name="on" value="${esc(on)}"></label><button>Check every product</button>
    <label>Verdict<select name="verdict"><option value="">any</option><option>PROHIBITED</option><option>UNKNOWN</option>
    <option>ALLOWED</option><option>INFO</option><option>NOT_APPLICABLE</option></select></label>
    <label>Search<input name="q" placeholder="product or rule"></label>
    <button type="button" class="plain" id="csv" disabled>Export CSV</button></form>
    <div class="card"><div id="ct">${empty("Choose a buyer and a date, then check every product.")}</div></div>`;
  let rows = [];
  const show = () => {
    const fd = new FormData($("#cf")), v = fd.get("verdict"), q = (fd.get("q") || "").toLowerCase();
    const shown = rows.filter((r) => (!v || r.verdict === v) &&
      (!q || `${r.product} ${r.name} ${r.rules}`.toLowerCase().includes(q)));
    const counts = {}; rows.forEach((r) => { counts[r.verdict] = (counts[r.verdict] || 0) + 1; });
    $("#ct").innerHTML = `<p>${Object.entries(counts).map(([k, n]) => `${badge(k)} ${n}`).join(" &nbsp; ")}
      <span class="muted">&nbsp; ${shown.length} of ${rows.length} products shown</span></p>` +
      table(shown, [["product", "product"], ["name", "name"], ["verdict", "worst verdict"], ["rules", "rules"], ["reason", "reason"]], {
        empty: "No product fits this filter.", height: 520, cell: {
          product: (p) => `<a href="/product/${encodeURIComponent(p)}?buyer=${encodeURIComponent(fd.get("buyer"))}&on=${fd.get("on")}">${esc(p)}</a>`,
          verdict: (v) => badge(v),
          reason: (v) => `<span title="${esc(v)}">${esc(String(v).length > 200 ? String(v).slice(0, 200) + "…" : v)}</span>` } });
    $("#csv").onclick = () => csvDownload(shown, ["product", "name", "verdict", "rules", "reason"], `compliance_${fd.get("buyer")}_${fd.get("on")}.csv`);
  };
  $("#cf [name=verdict]").onchange = show;
  $("#cf [name=q]").oninput = show;
  const run = () => into($("#ct"), "the verdicts", async () => {
    const fd = new FormData($("#cf"));
    history.replaceState(null, "", `?buyer=${fd.get("buyer")}&on=${fd.get("on")}`);
    const j = await job("check-all", { buyer: fd.get("buyer"), on: fd.get("on") }, (p) => { $("#ct").innerHTML = progressBar(p); });
    rows = j.result.products; $("#csv").disabled = false; show();
  });
  $("#cf").onsubmit = (e) => { e.preventDefault(); run(); };
  if (params.get("buyer")) run();
};

pages.screening = async () => {
  main().innerHTML = `<h1>Screening</h1><div class="card"><h2>Screen a supplier list</h2>
    <form class="bar" id="sf"><label><span>CSV or XLSX with a <code>name</code> column (country, id, address optional)</span>
    <input type="file" name="file" accept=".csv,.xlsx" required></label><button>Screen</button></form>
    <div id="sr">${empty("Upload a list to see which suppliers match the store and the restricted lists.")}</div></div>
    <div class="card"><h2>Review queue</h2><p class="muted">Pairs the screen could not decide. A judgement is kept and applies to every later screen, import and check.</p>
    <div id="rq"></div></div>`;
  const queue = () => into($("#rq"), "the review queue", async () => {
    const r = await api("/api/reviews");
    $("#rq").innerHTML = table(r.rows, [["seq", "pair"], ["input", "supplier as written"], ["candidate", "candidate"], ["name", "candidate name"], ["score", "score"], ["act", "judgement"]], {
      empty: "No pair waits for review.", cell: { act: (_, row) =>
        ["same", "different", "unsure"].map((d) => `<button class="small${d === "same" ? "" : " plain"}" data-pair="${row.seq}" data-decide="${d}">${d === "same" ? "Confirm same" : d === "different" ? "Reject" : "Unsure"}</button>`).join(" ") } });
  });
  $("#rq").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-decide]");
    if (!b) return;
    b.disabled = true;
    try { await api(`/api/reviews/${b.dataset.pair}`, { method: "POST", json: { decision: b.dataset.decide } }); queue(); }
    catch (e) { $("#rq").insertAdjacentHTML("afterbegin", problemText(e)); }
  });
  $("#sf").onsubmit = (e) => {
    e.preventDefault();
    into($("#sr"), "the screen", async () => {
      const r = await api("/api/screen", { method: "POST", body: new FormData($("#sf")) });
      $("#sr").innerHTML = `<p>${badge("match")} ${r.counts.match} &nbsp; ${badge("review")} ${r.counts.review} &nbsp; ${badge("no_match")} ${r.counts.no_match}
        <span class="muted">&nbsp; ${r.queued} new pair(s) queued for review</span></p>` +
        table(r.results, [["input", "supplier"], ["decision", "decision"], ["match", "match"], ["name", "name in the store"], ["score", "score"], ["lists", "restricted lists"], ["reasons", "why"]], {
          height: 420, cell: { decision: (v) => badge(v), lists: (v) => v.length ? v.map((h) => `<b>${esc(h.list)}</b>: ${esc(h.entry)}${h.rules.length ? ` <span class="muted">(${esc(h.rules.join(", "))})</span>` : ""}`).join("<br>") : '<span class="muted">none</span>',
            reasons: (v) => esc((v || []).join("; ")) } });
      queue();
    });
  };
  queue();
};

pages.risk = async () => {
  main().innerHTML = `<h1>Risk</h1><div class="grid"><div class="card wide"><h2>Concentration (HHI 0–10 000; above 2 500 highly concentrated)</h2>
    <form class="bar" id="rf"><label>Stage<select name="stage"><option value="">every stage</option></select></label></form><div id="hhi"></div></div>
    <div class="card wide"><h2>A product's dependency and single points of failure</h2>
    <form class="bar" id="pf"><label>Product<select name="product"><option value="">— choose —</option></select></label>
    <label>Least share lost<input type="number" name="threshold" value="0.1" min="0" max="1" step="0.05" style="width:80px"></label><button>Show</button></form>
    <div id="spof">${empty("Choose a product to see which plants and companies it depends on.")}</div></div>
    <div class="card wide"><h2>Export cut-off: graphite scenario</h2><form class="bar" id="sim"><label>Scenario<select name="scenario"><option>graphite_cutoff</option></select></label>
    <label>Monte Carlo draws<input type="number" name="draws" value="200" min="0" max="2000" style="width:90px"></label><button>Run cut-off</button></form>
    <div id="simr">${empty("Run the scenario to see the shortfall per product and month.")}</div></div></div>`;
  const info = await api("/api/info").catch(() => null);
  if (info) $("#rf [name=stage]").innerHTML += Object.keys(info.stages).map((s) => `<option>${esc(s)}</option>`).join("");
  const hhi = () => into($("#hhi"), "the concentration", async () => {
    const st = $("#rf [name=stage]").value;
    const r = await api(`/api/risk${st ? `?stage=${st}` : ""}`);
    $("#hhi").innerHTML = table(r.concentration, ["material", "stage", "basis", "hhi_country", "leaders_country", "hhi_control", "leaders_control"], {
      height: 420, empty: "No capacity or flows at this stage.",
      cell: { hhi_country: (v) => `<span style="color:${v > 2500 ? "var(--bad)" : "inherit"}">${fmt(Math.round(v))}</span>`,
        hhi_control: (v) => v === null ? "" : `<span style="color:${v > 2500 ? "var(--bad)" : "inherit"}">${fmt(Math.round(v))}</span>` } });
  });
  $("#rf [name=stage]").onchange = hhi; hhi();
  api("/api/products").then((list) => { $("#pf [name=product]").innerHTML += list.map((p) =>
    `<option value="${esc(p.id)}">${esc(p.name)} (${esc(p.id)})</option>`).join(""); }).catch(() => {});
  $("#pf").onsubmit = (e) => {
    e.preventDefault();
    const fd = new FormData($("#pf"));
    if (!fd.get("product")) return;
    into($("#spof"), "the dependency", async () => {
      const r = await api(`/api/risk?product=${encodeURIComponent(fd.get("product"))}&threshold=${fd.get("threshold")}`);
      $("#spof").innerHTML = `<div class="grid"><div><h2>Single points of failure</h2>` +
        table(r.single_points_of_failure, null, { height: 320, empty: "No single plant or company cuts this product's supply by that much." }) +
        `</div><div><h2>Dependency per raw material and stage</h2>` + table(r.dependency, null, { height: 320, empty: "Nothing traced." }) + `</div></div>`;
    });
  };
  $("#sim").onsubmit = (e) => {
    e.preventDefault();
    into($("#simr"), "the simulation", async () => {
      const fd = new FormData($("#sim"));
      const j = await job("simulate", { scenario: fd.get("scenario"), draws: Number(fd.get("draws")) }, (p) => { $("#simr").innerHTML = progressBar(p); });
      const r = j.result;
      const mc = r.montecarlo;
      $("#simr").innerHTML = `<p>${r.shortfall.length ? "" : "As written, the scenario leaves no product short: stocks, substitutes and other suppliers cover the cut-off."}</p>
        <div id="sc" class="chart"></div>` + (mc ? `<h2>Monte Carlo: share of horizon supply lost</h2><div id="mcc" class="chart"></div>` : "") +
        `<h2>Products hit (as written)</h2>` + table(r.recovery.filter((x) => x.lost > 0 || x.peak_share > 0), null, { height: 240, empty: "No product loses supply in the scenario as written." });
      if (mc && !mc.products.some((x) => x.mean > 0 || x.p_hit > 0)) {
        $("#mcc").innerHTML = empty(`None of the ${mc.total.draws} sampled schedules leaves a product short.`);
      } else if (mc && mc.products.length) {
        const top = mc.products.slice(0, 15), cols = Object.keys(top[0]);
        const val = cols.find((c) => /^p90$/.test(c)) || cols.find((c) => /mean/.test(c)) || cols[cols.length - 1];
        const mid = cols.find((c) => /mean/.test(c)) || val;
        plot($("#mcc"), [{ type: "bar", name: mid, x: top.map((x) => x.product || x.material), y: top.map((x) => 100 * x[mid]) },
          ...(val !== mid ? [{ type: "bar", name: val, x: top.map((x) => x.product || x.material), y: top.map((x) => 100 * x[val]) }] : [])],
        { yaxis: { title: "% of horizon supply lost" }, legend: { orientation: "h", y: -0.35 } });
      }
      if (!r.shortfall.length) { $("#sc").remove(); return; }
      const mats = [...new Set(r.shortfall.map((x) => x.material))];
      plot($("#sc"), mats.map((m) => { const rows = r.shortfall.filter((x) => x.material === m);
        return { type: "scatter", mode: "lines+markers", name: m, x: rows.map((x) => x.period), y: rows.map((x) => x.share * 100) }; }),
      { yaxis: { title: "share of supply short (%)" }, xaxis: { title: "month" }, legend: { orientation: "h", y: -0.25 } });
    });
  };
};

pages.audit = async () => {
  main().innerHTML = `<h1>Audit</h1><div class="card"><h2>Verdicts given (newest first)</h2>
    <form class="bar" id="af"><label>Product<input name="product" placeholder="ses_chungju"></label>
    <label>Rule<input name="rule_id"></label><button>Filter</button><span id="chain" class="muted"></span></form>
    <div id="at"></div><div class="pager" id="ap"></div></div>
    <div class="card"><h2>Writes through the server</h2><div id="wt"></div></div>`;
  let offset = 0;
  const load = () => into($("#at"), "the audit log", async () => {
    const fd = new FormData($("#af"));
    const q = new URLSearchParams({ offset, limit: 50 });
    if (fd.get("product")) q.set("product", fd.get("product"));
    if (fd.get("rule_id")) q.set("rule_id", fd.get("rule_id"));
    const r = await api(`/api/audit?${q}`);
    $("#at").innerHTML = table(r.rows, [["seq", "#"], ["recorded_at", "recorded"], ["product", "product"], ["buyer", "buyer"], ["evaluated_on", "date"], ["rule_id", "rule"], ["verdict", "verdict"], ["reason", "reason"]], {
      empty: "No verdict has been recorded yet.", height: 420, cell: { verdict: (v) => badge(v), recorded_at: (v) => esc(String(v).slice(0, 19).replace("T", " ")),
        reason: (v) => `<span title="${esc(v)}">${esc(String(v).length > 110 ? String(v).slice(0, 110) + "…" : v)}</span>` } });
    $("#ap").innerHTML = `<button class="small plain" id="aprev" ${offset ? "" : "disabled"}>Newer</button>
      <span>${r.total ? offset + 1 : 0}–${Math.min(offset + 50, r.total)} of ${fmt(r.total)}</span>
      <button class="small plain" id="anext" ${offset + 50 < r.total ? "" : "disabled"}>Older</button>`;
    $("#aprev").onclick = () => { offset = Math.max(0, offset - 50); load(); };
    $("#anext").onclick = () => { offset += 50; load(); };
  });
  $("#af").onsubmit = (e) => { e.preventDefault(); offset = 0; load(); };
  load();
  api("/api/audit/verify").then((v) => { $("#chain").textContent = v.intact ? "hash chain intact" : `hash chain broken: ${v.problems[0]}`; }).catch(() => {});
  into($("#wt"), "the write log", async () => {
    const w = await api("/api/audit/writes");
    $("#wt").innerHTML = table(w.rows, [["seq", "#"], ["at", "when"], ["key_name", "key"], ["action", "action"], ["detail", "detail"]], { empty: "Nothing has been written through the server yet.", height: 300 });
  });
};

/* --- the key field and start -------------------------------------------------------------- */
async function who() {
  const el = $("#who");
  try {
    const w = await api("/api/whoami");
    el.innerHTML = w.name === "local" ? "local single-user mode" :
      `key <b>${esc(w.name)}</b> (${esc(w.role)}) <button class="small plain" id="out">forget</button>`;
    const out = $("#out"); if (out) out.onclick = () => { localStorage.removeItem("onshore-key"); location.reload(); };
  } catch (e) {
    el.innerHTML = `<input id="keyin" type="password" placeholder="API key" aria-label="API key"><button class="small plain" id="keyset">use key</button>`;
    $("#keyset").onclick = () => { localStorage.setItem("onshore-key", $("#keyin").value.trim()); location.reload(); };
  }
}
document.addEventListener("DOMContentLoaded", () => {
  who();
  const p = pages[document.body.dataset.page];
  if (p) p().catch((e) => { main().insertAdjacentHTML("beforeend", problemText(e)); });
});
