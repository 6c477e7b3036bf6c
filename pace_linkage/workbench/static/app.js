"use strict";
// The workbench page: every figure comes from the JSON endpoints; text is set with textContent only.
const $ = (id) => document.getElementById(id);
const fmt = (v, d = 4) => (v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString("en-GB") : v.toFixed(d)) : String(v));
let state = { threshold: null, label: null, patterns: null };

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function cell(row, value, numeric) {
  const td = document.createElement("td");
  td.textContent = value;
  if (numeric) td.className = "num";
  row.appendChild(td);
  return td;
}

function table(el, headers, rows, numeric = (i) => i > 0) {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
  const body = t.createTBody();
  rows.forEach((r) => { const tr = body.insertRow(); r.forEach((v, i) => cell(tr, v, numeric(i))); });
  el.replaceChildren(t);
  return t;
}

function facts(el, items) {
  el.replaceChildren();
  items.forEach(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.dataset.key = k;
    el.append(dt, dd);
  });
}

async function showThreshold(t) {
  state.threshold = t;
  $("threshold-value").textContent = t.toFixed(3);
  const f = await api(`/api/threshold?t=${t}`);
  const items = [["links", fmt(f.links)], ["clusters", fmt(f.clusters)], ["linked records", fmt(f.linked_records)],
    ["estimated precision", fmt(f.est_precision)], ["estimated recall", fmt(f.est_recall)],
    ["estimated false links", fmt(f.est_false_links, 1)], ["estimated missed", fmt(f.est_missed, 1)]];
  if (f.precision !== undefined) items.push(["precision (truth)", fmt(f.precision)], ["recall (truth)", fmt(f.recall)]);
  const c = await api(`/api/clerical?t=${t}`);
  const ci = (e) => (e && e.estimate !== null ? `${fmt(e.estimate)} (${fmt(e.ci_low, 3)}–${fmt(e.ci_high, 3)})` : "–");
  items.push(["labelled pairs decided", fmt(c.decided)], ["clerical precision (95% interval)", ci(c.precision)],
    ["clerical recall (95% interval)", ci(c.recall)]);
  facts($("figures"), items);
}

function curveChart(rows, truth, clerical) {
  // a Vega-Lite spec, the data inline; rendered by the vendored Vega through its expression interpreter.
  // Clerical estimates (from labels) are drawn with their 95% intervals as bands.
  const series = [["est_precision", "estimated precision"], ["est_recall", "estimated recall"],
    ...(truth ? [["precision", "precision (truth)"], ["recall", "recall (truth)"]] : [])];
  const values = rows.flatMap((r) => series.map(([k, name]) => ({ threshold: r.threshold, measure: name, value: r[k] })));
  const bands = clerical.flatMap((r) => [["precision", "clerical precision"], ["recall", "clerical recall"]].map(([k, name]) =>
    ({ threshold: r.threshold, measure: name, value: r[k], low: r[`${k}_low`], high: r[`${k}_high`] })));
  values.push(...bands);
  const low = Math.max(0, Math.floor(Math.min(...values.map((v) => (v.low ?? v.value))) * 20) / 20);
  const x = { field: "threshold", type: "quantitative", title: "match probability threshold" };
  const color = { field: "measure", type: "nominal", title: null, legend: { orient: "bottom", labelLimit: 0, columns: 3 } };
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json", width: 560, height: 260,
    data: { values },
    layer: [
      { transform: [{ filter: "isValid(datum.low)" }], mark: { type: "area", opacity: 0.15 },
        encoding: { x, y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } },
      { mark: { type: "line", point: true },
        encoding: {
          x, color,
          y: { field: "value", type: "quantitative", title: "precision / recall", scale: { domain: [low, 1] } },
          tooltip: [{ field: "measure" }, { field: "threshold", format: ".3f" }, { field: "value", format: ".4f" },
            { field: "low", format: ".3f", title: "95% low" }, { field: "high", format: ".3f", title: "95% high" }],
        } },
    ],
  };
  return vegaEmbed("#curve-chart", spec, { ast: true, expr: vegaInterpreter.expressionInterpreter,
    renderer: "svg", actions: false, defaultStyle: false, tooltip: { disableDefaultStyle: true } });
}

async function showCurve() {
  const rows = await api("/api/curve");
  const clerical = await api("/api/clerical/curve");
  const byT = new Map(clerical.map((r) => [r.threshold, r]));
  const truth = rows.length && rows[0].precision !== undefined;
  const headers = ["threshold", "links", "clusters", "est. precision", "est. recall", ...(truth ? ["precision", "recall"] : []),
    ...(clerical.length ? ["clerical precision", "clerical recall"] : [])];
  const t = $("curve");
  const head = t.tHead; head.replaceChildren();
  const hr = head.insertRow();
  headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h; hr.appendChild(th); });
  const body = t.tBodies[0]; body.replaceChildren();
  rows.forEach((r) => {
    const tr = body.insertRow();
    [fmt(r.threshold, 3), fmt(r.links), fmt(r.clusters), fmt(r.est_precision), fmt(r.est_recall),
      ...(truth ? [fmt(r.precision), fmt(r.recall)] : []),
      ...(clerical.length ? [fmt(byT.get(r.threshold)?.precision), fmt(byT.get(r.threshold)?.recall)] : [])]
      .forEach((v, i) => cell(tr, v, i > 0));
  });
  await curveChart(rows, truth, clerical);
}

function waterfall(el, w) {
  el.replaceChildren();
  const p = document.createElement("p");
  p.textContent = `pair ${w.pair}: ${w.left.source}/${w.left.record_id} and ${w.right.source}/${w.right.record_id}` +
    ` (blocking rule ${w.blocking_rule}); match weight ${fmt(w.match_weight, 2)}, probability ${fmt(w.match_probability)}`;
  el.appendChild(p);
  const holder = document.createElement("div");
  el.appendChild(holder);
  const side = (v) => (v === null || v === undefined ? "–" : v);
  const values = w.values_loaded ? ["left value", "right value"] : [];
  table(holder, ["comparison", "level", "weight", ...values], w.rows.map((r) => [r.comparison, r.level, fmt(r.weight, 2),
    ...(w.values_loaded ? (r.field ? [side(r.left), side(r.right)] : ["", ""]) : [])]), (i) => i === 2).classList.add("waterfall");
  if (w.values_loaded && w.context && w.context.length) {
    const ctx = document.createElement("div"); el.appendChild(ctx);
    table(ctx, ["other field", "left value", "right value"], w.context.map((r) => [r.field, side(r.left), side(r.right)]), () => false)
      .classList.add("context");
  }
  if (w.values_note) {
    const n = document.createElement("p"); n.className = "note values-note"; n.textContent = w.values_note; el.appendChild(n);
  }
}

async function showPair(n) {
  waterfall($("pair"), await api(`/api/pair/${n}`));
}

function patternChart(rows) {
  // pairs by pattern weight, split by whether they link at the current threshold (a Vega-Lite spec)
  const values = rows.flatMap((r) => [{ weight: r.weight, pairs: r.links, status: "links" },
    { weight: r.weight, pairs: r.pairs - r.links, status: "does not link" }]).filter((v) => v.weight !== null && v.pairs > 0);
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json", width: 560, height: 200,
    data: { values }, mark: "bar",
    encoding: {
      x: { field: "weight", type: "quantitative", bin: { maxbins: 40 }, title: "pattern weight (prior + levels, bits)" },
      y: { aggregate: "sum", field: "pairs", type: "quantitative", title: "scored pairs" },
      color: { field: "status", type: "nominal", title: null, sort: ["links", "does not link"],
        legend: { orient: "bottom", labelLimit: 0 } },
      tooltip: [{ field: "status" }, { field: "weight", bin: true, title: "weight" },
        { aggregate: "sum", field: "pairs", title: "pairs" }],
    },
  };
  return vegaEmbed("#pattern-chart", spec, { ast: true, expr: vegaInterpreter.expressionInterpreter,
    renderer: "svg", actions: false, defaultStyle: false, tooltip: { disableDefaultStyle: true } });
}

async function showPatternPairs(id) {
  const s = await api(`/api/patterns/${encodeURIComponent(id)}`);
  const el = $("pattern-pairs"); el.replaceChildren();
  const p = document.createElement("p");
  p.textContent = `pattern ${s.pattern}: ${fmt(s.pairs)} pair(s)` + (s.sample.length < s.pairs ? `, ${s.sample.length} drawn at random` : "");
  el.appendChild(p);
  const holder = document.createElement("div"); el.appendChild(holder);
  const t = table(holder, ["pair", "left", "right", "weight", "probability"], s.sample.map((e) => [String(e.pair),
    `${e.left.source}/${e.left.record_id}`, `${e.right.source}/${e.right.record_id}`, fmt(e.match_weight, 2),
    e.match_probability.toFixed(6)]), (i) => i >= 3);
  t.id = "pattern-sample";
  [...t.tBodies[0].rows].forEach((tr, i) => {
    tr.className = s.sample[i].match_probability >= state.threshold ? "links" : "";
    const b = document.createElement("button"); b.className = "pair"; b.type = "button";
    b.textContent = tr.cells[0].textContent; tr.cells[0].replaceChildren(b);
    b.addEventListener("click", async () => {
      $("pair-number").value = s.sample[i].pair;
      await showPair(s.sample[i].pair);
      $("pair-section").scrollIntoView();
    });
  });
}

const PATTERN_ROWS = 1000; // the table lists the heaviest patterns; the chart counts every one

async function showPatterns() {
  const answer = await api(`/api/patterns?t=${state.threshold}`);
  const rows = answer.patterns;
  if (state.patterns) {
    // the threshold moved: update the links of the rows shown (the table keeps its order) and the chart
    rows.forEach((r) => { const tr = state.patterns.get(r.pattern); if (tr) tr.cells[tr.cells.length - 3].textContent = fmt(r.links); });
    await patternChart(rows);
    return;
  }
  const shown = rows.slice(0, PATTERN_ROWS);
  const t = table($("patterns"), ["pattern", ...answer.comparisons, "pairs", "links", "weight", "mean probability"],
    shown.map((r) => [r.pattern, ...answer.comparisons.map((c) => r.levels[c]), fmt(r.pairs), fmt(r.links),
      fmt(r.weight, 2), r.mean_probability.toFixed(4)]), (j) => j > answer.comparisons.length);
  t.id = "pattern-table";
  state.patterns = new Map();
  [...t.tBodies[0].rows].forEach((tr, i) => {
    state.patterns.set(shown[i].pattern, tr);
    const b = document.createElement("button"); b.className = "pattern"; b.type = "button";
    b.textContent = shown[i].pattern; tr.cells[0].replaceChildren(b);
    b.addEventListener("click", () => showPatternPairs(shown[i].pattern));
  });
  sortable(t);
  $("pattern-count").textContent = `${fmt(rows.length)} pattern(s) among ${fmt(answer.pairs)} scored pairs` +
    (rows.length > PATTERN_ROWS ? `; the ${PATTERN_ROWS} heaviest listed` : "");
  await patternChart(rows);
}

async function showCluster(query) {
  $("cluster-error").textContent = "";
  let c;
  try { c = await api(`/api/cluster?q=${encodeURIComponent(query)}&t=${state.threshold}`); }
  catch (e) { $("cluster-error").textContent = e.message; $("cluster").replaceChildren(); return; }
  const el = $("cluster"); el.replaceChildren();
  const p = document.createElement("p");
  p.textContent = `${c.records.length} record(s) at threshold ${c.threshold.toFixed(3)}; the run's pace id(s): ${c.run_pace_ids.join(", ")}`;
  el.appendChild(p);
  const recs = document.createElement("div"); el.appendChild(recs);
  table(recs, ["source", "record id"], c.records.map((r) => [r.source, r.record_id])).id = "cluster-records";
  const edges = document.createElement("div"); el.appendChild(edges);
  const t = table(edges, ["pair", "left", "right", "weight", "probability", "links"],
    c.pairs.map((e) => [String(e.pair), `${e.left.source}/${e.left.record_id}`, `${e.right.source}/${e.right.record_id}`,
      fmt(e.match_weight, 2), fmt(e.match_probability), e.links ? "yes" : "no"]));
  t.id = "cluster-pairs";
  [...t.tBodies[0].rows].forEach((tr, i) => {
    tr.className = c.pairs[i].links ? "links" : (c.pairs[i].match_probability >= c.threshold ? "refused" : "");
    const b = document.createElement("button"); b.className = "pair"; b.type = "button";
    b.textContent = tr.cells[0].textContent; tr.cells[0].replaceChildren(b);
    b.addEventListener("click", () => { $("pair-number").value = c.pairs[i].pair; showPair(c.pairs[i].pair); });
  });
  if (c.refused.length) {
    const h = document.createElement("h3"); h.textContent = "Links refused"; el.appendChild(h);
    const holder = document.createElement("div"); el.appendChild(holder);
    const r = table(holder, ["pair", "probability", "other cluster's records", "why"],
      c.refused.map((e) => [String(e.pair), fmt(e.probability), fmt(e.other_cluster_records), e.reasons.join("; ")]));
    r.id = "cluster-refused";
    [...r.tBodies[0].rows].forEach((tr, i) => {
      const b = document.createElement("button"); b.className = "pair"; b.type = "button";
      b.textContent = tr.cells[0].textContent; tr.cells[0].replaceChildren(b);
      b.addEventListener("click", () => { $("pair-number").value = c.refused[i].pair; showPair(c.refused[i].pair); });
    });
  }
  const n = document.createElement("p"); n.className = "note"; n.textContent = c.note; el.appendChild(n);
  if (c.conflicts.length) {
    const k = document.createElement("div"); el.appendChild(k);
    table(k, ["kind", "count", "resolution"], c.conflicts.map((r) => [r.kind, r.count, r.resolution]));
  }
  if (c.history) showHistory(el, c.history);
}

function showHistory(el, h) {
  // the cluster's persistent ids across the store's incremental runs: the ids, then every event, in order
  const title = document.createElement("h3"); title.textContent = "History across incremental runs"; el.appendChild(title);
  if (!h.events.length) {
    const none = document.createElement("p"); none.className = "note";
    none.textContent = "The store holds no incremental history for these records."; el.appendChild(none);
    return;
  }
  const ids = document.createElement("div"); el.appendChild(ids);
  table(ids, ["id", "status", "now", "created in run", "last changed in run"],
    h.ids.map((r) => [r.id, r.status, r.now, r.created_run || "–", r.changed_run || "–"])).id = "cluster-ids";
  const events = document.createElement("div"); el.appendChild(events);
  table(events, ["run", "seq", "event", "id", "other id", "record", "detail"],
    h.events.map((r) => [r.run_id, String(r.seq), r.event, r.id || "–", r.other_id || "–",
      r.source ? `${r.source}/${r.record_id}` : "–", r.detail || ""])).id = "cluster-history";
}

function sortable(t) {
  // click a heading: sort by that column (numbers as numbers, a dash last); again: the other way
  [...t.tHead.rows[0].cells].forEach((th, col) => {
    th.tabIndex = 0;
    th.addEventListener("click", () => {
      const down = th.dataset.sort !== "down";
      [...t.tHead.rows[0].cells].forEach((h) => delete h.dataset.sort);
      th.dataset.sort = down ? "down" : "up";
      const key = (tr) => { const v = tr.cells[col].textContent.replace(/,/g, ""); const n = Number(v); return v === "–" ? null : (Number.isNaN(n) ? v : n); };
      const rows = [...t.tBodies[0].rows].sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1);
      });
      t.tBodies[0].append(...rows);
    });
  });
}

async function showPartners() {
  const rows = await api("/api/partners");
  const truth = rows.some((r) => r.recall !== null && r.recall !== undefined);
  const t = table($("partners"), ["partner", "records", "quarantined", "commonest reason", "linked", "est. precision",
    "est. recall", ...(truth ? ["recall (truth)"] : []), "fields under 90% valid"],
    rows.map((r) => [r.label, fmt(r.records), fmt(r.rows_quarantined), r.top_reason || "–", fmt(r.linkage_rate),
      fmt(r.est_precision), fmt(r.est_recall), ...(truth ? [fmt(r.recall)] : []),
      Object.entries(r.valid).filter(([, v]) => v < 0.9).map(([f, v]) => `${f} ${(100 * v).toFixed(0)}%`).join(", ") || "none"]));
  t.id = "partner-table";
  sortable(t);
}

function showQueue(q) {
  state.label = q.next;
  const counts = Object.entries(q.labelled).map(([k, v]) => `${k}: ${v}`).join(", ");
  $("label-counts").textContent = `Labelled so far: ${counts || "none"}`;
  if (q.next) waterfall($("label-pair"), q.next); else $("label-pair").textContent = "Every offered pair is labelled.";
}

async function label(value) {
  if (!state.label) return;
  showQueue(await api(`/api/label/${state.label.pair}/${value}`, { method: "POST" }));
  await showThreshold(state.threshold);  // the clerical estimate moves with every label
  await showCurve();
}

document.addEventListener("DOMContentLoaded", async () => {
  const run = await api("/api/run");
  $("run-facts").textContent = `${fmt(run.records)} records, ${fmt(run.pairs)} scored pairs; the run linked at ${run.threshold}` +
    (run.truth ? "; truth given: figures measured as well as estimated" : "; no truth given (--truth): figures are estimated");
  const slider = $("threshold");
  slider.value = run.threshold;
  let timer = null;
  slider.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => { await showThreshold(Number(slider.value)); await showPatterns(); }, 150);
  });
  $("save").disabled = !run.can_save;
  $("save-result").textContent = run.can_save ? "" : "(start the workbench with --save-to DIR to save)";
  $("save").addEventListener("click", async () => {
    $("save-result").textContent = "saving…";
    try {
      const s = await api(`/api/save?t=${state.threshold}`, { method: "POST" });
      $("save-result").textContent = `saved ${fmt(s.clusters)} clusters of ${fmt(s.records)} records ` +
        `(${fmt(s.clerical_decisions)} labelled decisions honoured) in ${s.folder}`;
    } catch (e) { $("save-result").textContent = e.message; }
  });
  $("cluster-form").addEventListener("submit", (e) => { e.preventDefault(); showCluster($("cluster-query").value); });
  $("pair-form").addEventListener("submit", (e) => { e.preventDefault(); showPair(Number($("pair-number").value)); });
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement) return;
    const value = { m: "match", n: "non-match", u: "unsure" }[e.key];
    if (value) label(value);
  });
  await showThreshold(Number(run.threshold));
  await showCurve();
  await showPartners();
  await showPatterns();
  showQueue(await api("/api/label"));
  document.body.dataset.ready = "yes";
});
