"use strict";
// ceuskit workstation: studies → lesions, clip viewer with ROI drawing, analysis, curves, maps, cohort.
// Plain JavaScript, no build step and nothing from a CDN. The server is the source of truth; this page
// keeps only view state (study, lesion, frame, tab) and unsaved drawings in localStorage.

const TOKEN_KEY = "ceuskit.token";
const STATE_KEY = "ceuskit.state";
const PHASES = {arterial_end_s: 45, portal_end_s: 120};  // DESIGN defaults; the analysis' own options win

const $ = (id) => document.getElementById(id);
const state = Object.assign({study: null, lesion: null, frame: 0, tab: "lesion", opacity: 60, map: ""},
                            JSON.parse(localStorage.getItem(STATE_KEY) || "{}"));
const view = {lesion: null, clip: null, rois: [], referenceFrame: null, selected: -1, tool: "ellipse",
              drawing: null, image: null, overlay: null, playing: null, frameCache: new Map(), analysis: null};

function saveState() { localStorage.setItem(STATE_KEY, JSON.stringify(state)); }
function status(text) { $("status").textContent = text || ""; }

// ---------------------------------------------------------------------------------------------- API
async function api(path, options = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = Object.assign({Authorization: `Bearer ${token}`}, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401) { localStorage.removeItem(TOKEN_KEY); window.location.replace("/login"); throw new Error("signed out"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}
const getJSON = async (path) => (await api(path)).json();
const sendJSON = async (path, method, body) => (await api(path, {method, headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})).json();

async function pollJob(job, onProgress) {
  for (;;) {
    const current = await getJSON(`/api/jobs/${job.id}`);
    onProgress(current.progress);
    if (current.status === "done") return current.result;
    if (current.status === "failed") throw new Error(current.error);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

// ------------------------------------------------------------------------------------------- studies
async function loadStudies() {
  const studies = await getJSON("/api/studies");
  const tree = $("studies");
  tree.innerHTML = "";
  if (!studies.length) { tree.innerHTML = '<p class="muted">No study yet: add a lesion below, or <code>ceuskit study import manifest.csv</code>.</p>'; return; }
  for (const study of studies) {
    const details = document.createElement("details");
    details.className = "study";
    details.dataset.id = study.id;
    details.innerHTML = `<summary>${escapeHtml(study.name)} <span class="muted">${plural(study.n_lesions, "lesion")}</span></summary>`;
    details.addEventListener("toggle", () => { if (details.open) openStudy(study.id, details); });
    tree.appendChild(details);
    if (state.study === study.id) details.open = true;
  }
  if (state.study === null) { state.study = studies[0].id; tree.firstChild.open = true; }
}

async function openStudy(studyId, details) {
  state.study = studyId; saveState();
  const study = await getJSON(`/api/studies/${studyId}`);
  details.querySelectorAll("ul").forEach((node) => node.remove());
  const list = document.createElement("ul");
  for (const patient of study.patients) {
    for (const lesion of patient.lesions) {
      const item = document.createElement("li");
      item.className = lesion.id === state.lesion ? "lesion active" : "lesion";
      item.dataset.id = lesion.id;
      const status = lesion.analysis ? lesion.analysis.status : "new";
      item.innerHTML = `${escapeHtml(patient.patient)} · ${escapeHtml(lesion.lesion)} <span class="badge ${status}">${status}</span>`;
      item.addEventListener("click", () => openLesion(lesion.id));
      list.appendChild(item);
    }
  }
  details.appendChild(list);
  if (state.tab === "cohort") loadCohort();
  if (state.lesion && list.querySelector(`[data-id="${state.lesion}"]`) && !view.lesion) openLesion(state.lesion);
}

// -------------------------------------------------------------------------------------------- lesion
async function openLesion(lesionId) {
  stopPlaying();
  const lesion = await getJSON(`/api/lesions/${lesionId}`);
  if (state.lesion !== lesionId) state.frame = 0;
  state.lesion = lesionId; saveState();
  view.lesion = lesion; view.frameCache.clear(); view.overlay = null; view.analysis = null;
  document.querySelectorAll(".lesion").forEach((node) => node.classList.toggle("active", Number(node.dataset.id) === lesionId));
  $("lesion-title").textContent = `${lesion.patient} · ${lesion.lesion}` +
    (lesion.ki67_percent != null ? ` · Ki-67 ${lesion.ki67_percent} %` : "") + (lesion.who_grade ? ` · ${lesion.who_grade}` : "");
  $("lesion-title").classList.remove("muted");
  const draft = localStorage.getItem(`ceuskit.draft.${lesionId}`);
  const document_ = draft ? JSON.parse(draft) : (lesion.rois || {rois: []});
  view.rois = (document_.rois || []).map((roi) => Object.assign({}, roi));
  view.referenceFrame = view.rois.length ? (document_.reference_frame || 0) : null;
  view.selected = -1;
  $("save-state").textContent = draft ? "unsaved changes" : "";
  view.clip = await getJSON(`/api/clips/${lesion.clip_id}`);
  const canvas = $("viewer");
  canvas.width = view.clip.columns; canvas.height = view.clip.rows;
  $("frame-slider").max = view.clip.n_frames - 1;
  state.frame = Math.min(state.frame, view.clip.n_frames - 1);
  showLayout(view.clip);
  drawPhaseBands(null);
  renderRoiList();
  await showFrame(state.frame);
  if (lesion.analysis && lesion.analysis.status === "ok") showAnalysis(lesion.analysis);
  else { $("labels").querySelector("tbody").innerHTML = ""; $("tic").innerHTML = ""; }
  if (state.map) await loadMap(state.map);
}

function showLayout(clip) {
  // dual display (B-mode | CEUS side by side): say which half carries the contrast; the analysis reads that one
  const ceus = (clip.regions || []).find((r) => r.role === "ceus"), bmode = (clip.regions || []).find((r) => r.role === "bmode");
  const label = $("layout-label");
  label.hidden = !(clip.layout === "dual" && ceus && bmode);
  label.textContent = label.hidden ? "" : `dual display · CEUS ${ceus.box[0] < bmode.box[0] ? "left" : "right"}`;
}

function timeAfterInjection(index) {
  return view.clip.frame_times_s[index] - (view.lesion.injection_time_s || 0);
}

async function frameImage(index) {
  if (view.frameCache.has(index)) return view.frameCache.get(index);
  const blob = await (await api(`/api/clips/${view.clip.id}/frames/${index}`)).blob();
  const image = await createImageBitmap(blob);
  if (view.frameCache.size > 120) view.frameCache.delete(view.frameCache.keys().next().value);
  view.frameCache.set(index, image);
  return image;
}

async function showFrame(index) {
  if (!view.clip) return;
  index = Math.max(0, Math.min(view.clip.n_frames - 1, index));
  state.frame = index; saveState();
  $("frame-slider").value = index;
  const t = timeAfterInjection(index);
  $("time-label").textContent = `frame ${index + 1}/${view.clip.n_frames} · ${t.toFixed(1)} s after injection · ${phaseName(t)}`;
  view.image = await frameImage(index);
  if (state.frame === index) draw();
}

function phaseName(t) {
  if (t < 0) return "before injection";
  if (t < PHASES.arterial_end_s) return "arterial";
  if (t < PHASES.portal_end_s) return "portal venous";
  return "late";
}

function drawPhaseBands(options) {
  if (options) Object.assign(PHASES, {arterial_end_s: options.arterial_end_s, portal_end_s: options.portal_end_s});
  const bands = $("phase-bands");
  bands.innerHTML = "";
  if (!view.clip) return;
  const times = view.clip.frame_times_s.map((_, i) => timeAfterInjection(i));
  const first = times[0], last = times[times.length - 1], span = Math.max(1e-6, last - first);
  const edges = [[-Infinity, 0, "pre"], [0, PHASES.arterial_end_s, "arterial"],
                 [PHASES.arterial_end_s, PHASES.portal_end_s, "portal"], [PHASES.portal_end_s, Infinity, "late"]];
  for (const [start, end, name] of edges) {
    const a = Math.max(first, start), b = Math.min(last, end);
    if (b <= a) continue;
    const band = document.createElement("div");
    band.className = `band ${name}`;
    band.style.left = `${(100 * (a - first)) / span}%`;
    band.style.width = `${(100 * (b - a)) / span}%`;
    band.title = name;
    bands.appendChild(band);
  }
}

// ------------------------------------------------------------------------------------------- drawing
const COLOURS = {lesion: "#ff8c1a", parenchyma: "#33b3ff"};

function pixelScale() {
  // image pixels per screen pixel: text and lines keep their on-screen size whatever the frame's size
  const canvas = $("viewer"), width = canvas.getBoundingClientRect().width;
  return width ? canvas.width / width : 1;
}

function draw() {
  const canvas = $("viewer"), ctx = canvas.getContext("2d"), k = pixelScale();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (view.image) ctx.drawImage(view.image, 0, 0);
  if (view.overlay) { ctx.globalAlpha = state.opacity / 100; ctx.drawImage(view.overlay, 0, 0); ctx.globalAlpha = 1; }
  for (const region of (view.clip && view.clip.regions) || []) {
    if (!region.role) continue;
    const [x0, y0, x1, y1] = region.box;
    ctx.strokeStyle = "rgba(255,255,255,0.35)"; ctx.setLineDash([4 * k, 4 * k]); ctx.lineWidth = k;
    ctx.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);
    ctx.setLineDash([]); ctx.fillStyle = "rgba(255,255,255,0.7)"; ctx.font = `${11 * k}px sans-serif`;
    ctx.fillText(region.role === "ceus" ? "CEUS" : "B-mode", x0 + 4 * k, y0 + 13 * k);
  }
  view.rois.forEach((roi, i) => strokeRoi(ctx, roi, i === view.selected, k));
  if (view.drawing) strokeRoi(ctx, view.drawing, true, k);
}

function strokeRoi(ctx, roi, selected, k) {
  ctx.strokeStyle = COLOURS[roi.role] || "#fff";
  ctx.lineWidth = (selected ? 2.5 : 1.5) * k;
  ctx.beginPath();
  if (roi.shape === "ellipse") {
    ctx.ellipse(roi.center[0], roi.center[1], Math.max(0.5, roi.radii[0]), Math.max(0.5, roi.radii[1]), 0, 0, 2 * Math.PI);
  } else if (roi.shape === "rectangle") {
    const [x0, y0, x1, y1] = roi.box; ctx.rect(x0, y0, x1 - x0, y1 - y0);
  } else if (roi.points && roi.points.length) {
    ctx.moveTo(roi.points[0][0], roi.points[0][1]);
    for (const [x, y] of roi.points.slice(1)) ctx.lineTo(x, y);
    if (!roi.open) ctx.closePath();
  }
  ctx.stroke();
  if (roi.name) {
    const [x, y] = roi.center || (roi.points && roi.points[0]) || (roi.box && roi.box.slice(0, 2)) || [0, 0];
    ctx.fillStyle = COLOURS[roi.role] || "#fff"; ctx.font = `${12 * k}px sans-serif`; ctx.fillText(roi.name, x + 3 * k, y - 3 * k);
  }
}

function imagePoint(event) {
  const canvas = $("viewer"), box = canvas.getBoundingClientRect();
  return [Math.round(((event.clientX - box.left) * canvas.width) / box.width * 10) / 10,
          Math.round(((event.clientY - box.top) * canvas.height) / box.height * 10) / 10];
}

function nextName(role) {
  const base = role === "lesion" ? "lesion" : "liver";
  const names = new Set(view.rois.map((roi) => roi.name));
  if (!names.has(base)) return base;
  for (let i = 2; ; i++) if (!names.has(`${base}${i}`)) return `${base}${i}`;
}

function addRoi(roi) {
  if (view.referenceFrame === null || !view.rois.length) view.referenceFrame = state.frame;
  roi.name = nextName(roi.role);
  delete roi.open;
  view.rois.push(roi);
  view.selected = view.rois.length - 1;
  roisChanged();
}

function setTool(tool) {
  view.tool = tool; view.drawing = null;
  $("tool-ellipse").classList.toggle("active", tool === "ellipse");
  $("tool-polygon").classList.toggle("active", tool === "polygon");
  draw();
}

function setupCanvas() {
  const canvas = $("viewer");
  canvas.addEventListener("mousedown", (event) => {
    if (!view.clip || view.tool !== "ellipse") return;
    const [x, y] = imagePoint(event);
    view.drawing = {role: $("role-select").value, shape: "ellipse", center: [x, y], radii: [0, 0]};
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!view.drawing) return;
    const [x, y] = imagePoint(event);
    if (view.drawing.shape === "ellipse") {
      view.drawing.radii = [Math.abs(x - view.drawing.center[0]), Math.abs(y - view.drawing.center[1])];
    } else {
      view.drawing.points[view.drawing.points.length - 1] = [x, y];
    }
    draw();
  });
  canvas.addEventListener("mouseup", () => {
    if (!view.drawing || view.drawing.shape !== "ellipse") return;
    const roi = view.drawing; view.drawing = null;
    if (roi.radii[0] >= 2 && roi.radii[1] >= 2) addRoi(roi); else draw();
  });
  canvas.addEventListener("click", (event) => {
    if (!view.clip || view.tool !== "polygon") return;
    const point = imagePoint(event);
    if (!view.drawing) view.drawing = {role: $("role-select").value, shape: "polygon", points: [point, point], open: true};
    else view.drawing.points.splice(view.drawing.points.length - 1, 0, point);
    draw();
  });
  canvas.addEventListener("dblclick", () => closePolygon());
}

function closePolygon() {
  if (!view.drawing || view.drawing.shape !== "polygon") return;
  const points = view.drawing.points.slice(0, -1).filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0] || p[1] !== all[i - 1][1]);
  const roi = {role: view.drawing.role, shape: "polygon", points};
  view.drawing = null;
  if (points.length >= 3) addRoi(roi); else draw();
}

function renderRoiList() {
  const list = $("roi-list");
  list.innerHTML = "";
  view.rois.forEach((roi, i) => {
    const item = document.createElement("li");
    item.className = i === view.selected ? "selected" : "";
    item.innerHTML = `<span class="swatch" style="background:${COLOURS[roi.role]}"></span>${escapeHtml(roi.name)} <span class="muted">${roi.role === "parenchyma" ? "liver reference" : "lesion"}, ${roi.shape}</span>`;
    item.addEventListener("click", () => { view.selected = i; renderRoiList(); draw(); });
    list.appendChild(item);
  });
  $("reference-frame").textContent = view.referenceFrame === null ? "—" : view.referenceFrame + 1;
}

let saveTimer = null;
function roisChanged() {
  renderRoiList(); draw();
  const document_ = roiDocument();
  localStorage.setItem(`ceuskit.draft.${view.lesion.id}`, JSON.stringify(document_));
  const ready = view.rois.some((r) => r.role === "lesion");
  $("save-state").textContent = ready ? "saving…" : "unsaved: draw a lesion ROI";
  clearTimeout(saveTimer);
  if (ready) saveTimer = setTimeout(saveRois, 250);
}

function roiDocument() {
  return {reference_frame: view.referenceFrame || 0, units: "px",
          rois: view.rois.map(({name, role, shape, center, radii, points, box}) =>
            Object.fromEntries(Object.entries({name, role, shape, center, radii, points, box}).filter(([, v]) => v !== undefined)))};
}

async function saveRois() {
  const lesionId = view.lesion.id;
  try {
    await sendJSON(`/api/lesions/${lesionId}/rois`, "PUT", roiDocument());
    localStorage.removeItem(`ceuskit.draft.${lesionId}`);
    $("save-state").textContent = "saved";
    view.lesion = await getJSON(`/api/lesions/${lesionId}`);
    view.overlay = null; if (state.map) loadMap(state.map);
    return true;
  } catch (error) {
    $("save-state").textContent = `not saved: ${error.message}`;
    return false;
  }
}

// ------------------------------------------------------------------------------------------ analysis
async function analyse() {
  if (!view.lesion) return;
  clearTimeout(saveTimer);
  if (localStorage.getItem(`ceuskit.draft.${view.lesion.id}`) && !(await saveRois())) return;
  const bar = $("progress");
  bar.hidden = false; bar.value = 0; $("analyse").disabled = true; status("analysing…");
  try {
    const job = await sendJSON(`/api/lesions/${view.lesion.id}/analyze`, "POST", {});
    const result = await pollJob(job, (p) => { bar.value = p; });
    const analysis = await getJSON(`/api/analyses/${result.analysis_id}`);
    showAnalysis(analysis);
    status("analysis done");
    markLesion(view.lesion.id, "ok");
  } catch (error) {
    status(`analysis failed: ${error.message}`);
    markLesion(view.lesion.id, "failed");
  } finally {
    bar.hidden = true; $("analyse").disabled = false;
  }
}

function markLesion(id, statusName) {
  const badge = document.querySelector(`.lesion[data-id="${id}"] .badge`);
  if (badge) { badge.className = `badge ${statusName}`; badge.textContent = statusName; }
}

const fmt = (v, digits = 1, unit = "") => (v === null || v === undefined || Number.isNaN(v)) ? "—" : `${Number(v).toFixed(digits)}${unit}`;

function showAnalysis(analysis) {
  view.analysis = analysis;
  const doc = analysis.document;
  const phases = doc.provenance && doc.provenance.options && doc.provenance.options.phases;
  if (phases) drawPhaseBands(phases);
  const body = $("labels").querySelector("tbody");
  body.innerHTML = "";
  for (const lesion of doc.lesions || []) {
    const art = lesion.arterial_phase, pv = lesion.portal_venous_phase, late = lesion.late_phase;
    const params = (doc.rois[lesion.roi] || {}).parameters || {};
    const rows = [
      [`${lesion.roi}`, `vs ${lesion.reference}`, "head"],
      ["Arterial phase", art.enhancement, "label-arterial"],
      ["Onset", fmt(art.onset_s, 1, " s"), "onset"],
      ["Peak vs liver", fmt(art.relative_peak_db, 1, " dB")],
      ["Wash-out", pv.washout ? `${pv.washout_timing}, ${pv.washout_degree}` : "none", "label-washout"],
      ["Wash-out onset", fmt(pv.washout_onset_s, 1, " s"), "washout-onset"],
      ["Late phase", late.enhancement, "label-late"],
      ["Late vs liver", fmt(late.relative_db, 1, " dB")],
      ["Time to peak", fmt(params.time_to_peak_s, 1, " s")],
      ["Mean transit time", fmt(params.mean_transit_time_s, 1, " s")],
      ["CEUS LI-RADS", lesion.lirads && lesion.lirads.category ? lesion.lirads.category : "n/a"],
    ];
    for (const [name, value, id] of rows) {
      const tr = document.createElement("tr");
      if (id === "head") tr.className = "head";
      tr.innerHTML = `<th>${escapeHtml(name)}</th><td${id && id !== "head" ? ` id="${id}"` : ""}>${escapeHtml(String(value))}</td>`;
      body.appendChild(tr);
    }
  }
  drawTic(doc);
}

function svgEl(name, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawTic(doc) {
  const svg = $("tic");
  svg.innerHTML = "";
  const curves = doc.curves;
  if (!curves || !curves.tic) { svg.appendChild(svgEl("text", {x: 20, y: 30}, "No curves stored with this analysis.")); return; }
  const t = curves.tic.time_s;
  const W = 900, H = 300, L = 55, R = 15, T = 15, B = 35;
  const series = [];
  for (const [key, values] of Object.entries(curves.tic)) {
    if (!key.endsWith("_power_smoothed")) continue;
    const roi = key.slice(0, -"_power_smoothed".length);
    const role = (doc.rois[roi] || {}).role;
    series.push({name: roi, role, values, dash: ""});
    const fitted = curves.fitted && curves.fitted[roi];
    if (fitted) series.push({name: `${roi} fit`, role, values: fitted, dash: "5 4"});
  }
  const db = (v) => (v === null || v <= 0) ? null : 10 * Math.log10(v);
  const all = series.flatMap((s) => s.values.map(db)).filter((v) => v !== null && Number.isFinite(v));
  if (!all.length) return;
  const yMin = Math.floor(Math.min(...all) - 1), yMax = Math.ceil(Math.max(...all) + 1);
  const xMin = Math.min(...t), xMax = Math.max(...t);
  const X = (v) => L + ((v - xMin) / Math.max(1e-9, xMax - xMin)) * (W - L - R);
  const Y = (v) => T + (1 - (v - yMin) / Math.max(1e-9, yMax - yMin)) * (H - T - B);
  const bands = [[0, PHASES.arterial_end_s, "arterial"], [PHASES.arterial_end_s, PHASES.portal_end_s, "portal"], [PHASES.portal_end_s, xMax, "late"]];
  for (const [a, b, name] of bands) {
    const x0 = X(Math.max(a, xMin)), x1 = X(Math.min(b, xMax));
    if (x1 > x0) svg.appendChild(svgEl("rect", {x: x0, y: T, width: x1 - x0, height: H - T - B, class: `band ${name}`}));
  }
  for (let v = Math.ceil(yMin / 5) * 5; v <= yMax; v += 5) {
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid"}));
    svg.appendChild(svgEl("text", {x: L - 6, y: Y(v) + 4, "text-anchor": "end", class: "axis"}, `${v}`));
  }
  for (let v = Math.ceil(xMin / 30) * 30; v <= xMax; v += 30) {
    svg.appendChild(svgEl("text", {x: X(v), y: H - B + 16, "text-anchor": "middle", class: "axis"}, `${v}`));
  }
  svg.appendChild(svgEl("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", class: "axis"}, "seconds after injection"));
  svg.appendChild(svgEl("text", {x: 14, y: (T + H - B) / 2, transform: `rotate(-90 14 ${(T + H - B) / 2})`, "text-anchor": "middle", class: "axis"}, "echo power (dB)"));
  for (const s of series) {
    let path = "", pen = false;
    s.values.forEach((v, i) => {
      const y = db(v);
      if (y === null || !Number.isFinite(y)) { pen = false; return; }
      path += `${pen ? "L" : "M"}${X(t[i]).toFixed(1)},${Y(y).toFixed(1)}`; pen = true;
    });
    svg.appendChild(svgEl("path", {d: path, class: `curve ${s.role}`, "stroke-dasharray": s.dash, "data-name": s.name}));
  }
  for (const lesion of doc.lesions || []) {
    const marks = [[lesion.arterial_phase.onset_s, "onset", "marker onset"], [lesion.portal_venous_phase.washout_onset_s, "wash-out", "marker washout"]];
    marks.forEach(([time, label, cls], row) => {
      if (time === null || time === undefined) return;
      svg.appendChild(svgEl("line", {x1: X(time), x2: X(time), y1: T, y2: H - B, class: cls}));
      svg.appendChild(svgEl("text", {x: X(time) + 3, y: T + 12 + 14 * row, class: `axis ${cls}`}, `${label} ${time.toFixed(1)} s`));
    });
  }
  let ly = T + 6;
  for (const s of series) {
    svg.appendChild(svgEl("line", {x1: W - R - 130, x2: W - R - 110, y1: ly, y2: ly, class: `curve ${s.role}`, "stroke-dasharray": s.dash}));
    svg.appendChild(svgEl("text", {x: W - R - 105, y: ly + 4, class: "axis"}, s.name));
    ly += 15;
  }
}

// ----------------------------------------------------------------------------------------------- maps
async function loadMap(name) {
  state.map = name; saveState();
  view.overlay = null; $("map-legend").textContent = "";
  if (!name || !view.lesion) { draw(); return; }
  if (!((view.lesion.rois || {}).rois || []).some((roi) => roi.role === "lesion")) {
    $("map-legend").textContent = "draw and save a lesion ROI first"; draw(); return;
  }
  try {
    let response;
    try { response = await api(`/api/lesions/${view.lesion.id}/map/${name}`); } catch (error) {
      status("computing parametric maps…");
      const bar = $("progress"); bar.hidden = false;
      await pollJob(await sendJSON(`/api/lesions/${view.lesion.id}/map`, "POST", {}), (p) => { bar.value = p; });
      bar.hidden = true;
      response = await api(`/api/lesions/${view.lesion.id}/map/${name}`);
    }
    view.overlay = await createImageBitmap(await response.blob());
    const unit = response.headers.get("X-Map-Unit");
    $("map-legend").textContent = `${response.headers.get("X-Map-Min")} … ${response.headers.get("X-Map-Max")} ${unit || ""}`;
    status("");
  } catch (error) {
    status(`map failed: ${error.message}`);
    $("progress").hidden = true;
  }
  draw();
}

// --------------------------------------------------------------------------------------------- cohort
async function loadCohort() {
  if (state.study === null) return;
  const [stats, table] = await Promise.all([getJSON(`/api/studies/${state.study}/stats`), getJSON(`/api/studies/${state.study}/table`)]);
  $("cohort-title").textContent = `${plural(stats.n_patients, "patient")}, ${plural(stats.n_lesions, "lesion")}`;
  drawPatterns(stats.patterns || {});
  const correlation = (stats.correlations || []).find((c) => c.x === "arterial_onset_s" && c.y === "ki67");
  $("rho").textContent = correlation && correlation.rho !== null ? `Spearman rs = ${correlation.rho.toFixed(3)}, p = ${correlation.p_value.toFixed(3)}` : "";
  drawScatter(table);
}

function drawPatterns(patterns) {
  const svg = $("patterns"); svg.innerHTML = "";
  const names = ["arterial_hyper", "arterial_iso", "arterial_hypo", "washout", "washout_early", "washout_late", "late_hypo", "late_iso", "late_hyper"];
  const L = 120, W = 460, rowH = 30;
  names.forEach((name, i) => {
    const p = patterns[name]; if (!p) return;
    const y = 10 + i * rowH, scale = (W - L - 20) / 100;
    svg.appendChild(svgEl("text", {x: L - 6, y: y + 14, "text-anchor": "end", class: "axis"}, name.replace("_", " ")));
    svg.appendChild(svgEl("rect", {x: L, y, width: (p.percent || 0) * scale, height: 18, class: "bar", "data-name": name}));
    if (p.ci95) svg.appendChild(svgEl("line", {x1: L + p.ci95[0] * scale, x2: L + p.ci95[1] * scale, y1: y + 9, y2: y + 9, class: "ci"}));
    svg.appendChild(svgEl("text", {x: L + 4, y: y + 14, class: "axis light"}, `${p.n}/${p.of}`));
  });
}

function drawScatter(rows) {
  const svg = $("scatter"); svg.innerHTML = "";
  const points = rows.filter((r) => r.ki67 !== null && r.arterial_onset_s !== null);
  if (!points.length) return;
  const W = 460, H = 300, L = 45, B = 35, T = 10, R = 10;
  const xs = points.map((p) => p.ki67), ys = points.map((p) => p.arterial_onset_s);
  const xMax = Math.max(...xs) * 1.05 || 1, yMin = Math.min(...ys) - 1, yMax = Math.max(...ys) + 1;
  const X = (v) => L + (v / xMax) * (W - L - R), Y = (v) => T + (1 - (v - yMin) / (yMax - yMin)) * (H - T - B);
  svg.appendChild(svgEl("text", {x: (L + W) / 2, y: H - 5, "text-anchor": "middle", class: "axis"}, "Ki-67 (%)"));
  for (let v = 0; v <= xMax; v += xMax > 40 ? 10 : 5) {
    svg.appendChild(svgEl("text", {x: X(v), y: H - B + 14, "text-anchor": "middle", class: "axis"}, `${v}`));
  }
  const yStep = yMax - yMin <= 10 ? 1 : 5;
  for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax; v += yStep) {
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "grid"}));
    svg.appendChild(svgEl("text", {x: L - 4, y: Y(v) + 4, "text-anchor": "end", class: "axis"}, `${v}`));
  }
  svg.appendChild(svgEl("text", {x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle", class: "axis"}, "onset (s)"));
  for (const p of points) {
    const dot = svgEl("circle", {cx: X(p.ki67), cy: Y(p.arterial_onset_s), r: 5, class: `dot ${p.who_grade || ""}`});
    dot.appendChild(svgEl("title", {}, `${p.patient_id} ${p.lesion_id}: Ki-67 ${p.ki67} %, onset ${p.arterial_onset_s.toFixed(1)} s`));
    svg.appendChild(dot);
  }
}

async function download(path, filename) {
  status("preparing download…");
  try {
    const blob = await (await api(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob); link.download = filename; link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    status("");
  } catch (error) { status(`download failed: ${error.message}`); }
}

// ------------------------------------------------------------------------------------- add a lesion
async function openAddLesion() {
  const [studies, files] = await Promise.all([getJSON("/api/studies"), getJSON("/api/files")]);
  const studySelect = $("add-study");
  studySelect.innerHTML = "";
  for (const study of studies) studySelect.add(new Option(study.name, study.id, false, study.id === state.study));
  studySelect.add(new Option("new study…", "new", false, !studies.length));
  toggleNewStudy();
  fillClips(files, null);
  $("add-error").textContent = "";
  $("add-upload").value = "";
  $("add-lesion").showModal();
}

function toggleNewStudy() {
  const isNew = $("add-study").value === "new";
  document.querySelectorAll(".new-study").forEach((node) => { node.hidden = !isNew; });
  $("add-study-name").required = isNew;
}

function fillClips(files, selected) {
  const clipSelect = $("add-clip");
  clipSelect.innerHTML = "";
  if (!files.length) clipSelect.add(new Option("no clip in the data folder: upload one", ""));
  for (const file of files) {
    const megabytes = (file.size_bytes / 1048576).toFixed(1);
    clipSelect.add(new Option(`${file.path} (${megabytes} MB)`, file.path, false, file.path === selected));
  }
}

async function uploadClip(file) {
  $("add-error").textContent = `uploading ${file.name}…`;
  $("add-submit").disabled = true;
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const saved = await (await api("/api/uploads", {method: "POST", body: form})).json();
    fillClips(await getJSON("/api/files"), saved.path);
    $("add-error").textContent = "";
  } catch (error) {
    $("add-error").textContent = `upload refused: ${error.message}`;
  } finally {
    $("add-submit").disabled = false;
  }
}

async function submitAddLesion(event) {
  event.preventDefault();
  $("add-error").textContent = "";
  try {
    let studyId = $("add-study").value;
    if (studyId === "new") studyId = (await sendJSON("/api/studies", "POST", {name: $("add-study-name").value.trim()})).id;
    const ki67 = $("add-ki67").value;
    const body = {patient: $("add-patient").value.trim(), lesion: $("add-lesion-name").value.trim(), clip: $("add-clip").value,
                  ki67_percent: ki67 === "" ? null : Number(ki67), injection_time_s: Number($("add-injection").value || 0)};
    const created = await sendJSON(`/api/studies/${studyId}/lesions`, "POST", body);
    $("add-lesion").close();
    state.study = Number(studyId); state.lesion = created.id; state.frame = 0; saveState();
    view.lesion = null;
    await loadStudies();
    await openLesion(created.id);
    status("lesion added: draw its ROIs");
  } catch (error) {
    $("add-error").textContent = error.message;
  }
}

// ---------------------------------------------------------------------------------------------- misc
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function stopPlaying() { if (view.playing) { clearInterval(view.playing); view.playing = null; $("play").textContent = "▶"; } }

function togglePlay() {
  if (view.playing) { stopPlaying(); return; }
  if (!view.clip) return;
  $("play").textContent = "⏸";
  view.playing = setInterval(() => {
    if (state.frame >= view.clip.n_frames - 1) { stopPlaying(); return; }
    showFrame(state.frame + 1);
  }, 100);
}

function selectTab(tab) {
  state.tab = tab; saveState();
  for (const name of ["lesion", "cohort"]) {
    $(`view-${name}`).hidden = name !== tab;
    $(`tab-${name}`).classList.toggle("active", name === tab);
  }
  if (tab === "cohort") loadCohort().catch((error) => status(error.message));
}

function onKey(event) {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  const step = event.shiftKey ? 10 : 1;
  const keys = {
    ArrowRight: () => showFrame(state.frame + step), ArrowLeft: () => showFrame(state.frame - step),
    Home: () => showFrame(0), End: () => showFrame(view.clip ? view.clip.n_frames - 1 : 0),
    " ": togglePlay, e: () => setTool("ellipse"), p: () => setTool("polygon"), a: analyse,
    l: () => { const s = $("role-select"); s.value = s.value === "lesion" ? "parenchyma" : "lesion"; },
    Enter: closePolygon, Escape: () => { view.drawing = null; draw(); },
    Delete: deleteSelected, "?": () => $("help").showModal(), n: () => openAddLesion().catch((e) => status(e.message)),
  };
  const action = keys[event.key] || keys[event.key.toLowerCase()];
  if (document.querySelector("dialog[open]")) return;
  if (action && (view.clip || event.key === "?" || event.key.toLowerCase() === "n")) { event.preventDefault(); action(); }
}

function deleteSelected() {
  if (view.selected < 0) return;
  view.rois.splice(view.selected, 1); view.selected = -1;
  if (!view.rois.length) view.referenceFrame = null;
  roisChanged();
}

function init() {
  if (!localStorage.getItem(TOKEN_KEY)) { window.location.replace("/login"); return; }
  setupCanvas();
  setTool("ellipse");
  $("frame-slider").addEventListener("input", (e) => showFrame(Number(e.target.value)));
  $("prev").addEventListener("click", () => showFrame(state.frame - 1));
  $("next").addEventListener("click", () => showFrame(state.frame + 1));
  $("play").addEventListener("click", togglePlay);
  $("tool-ellipse").addEventListener("click", () => setTool("ellipse"));
  $("tool-polygon").addEventListener("click", () => setTool("polygon"));
  $("delete-roi").addEventListener("click", deleteSelected);
  $("clear-rois").addEventListener("click", () => { view.rois = []; view.selected = -1; view.referenceFrame = null; roisChanged(); });
  $("analyse").addEventListener("click", analyse);
  $("map-select").value = state.map;
  $("map-select").addEventListener("change", (e) => loadMap(e.target.value));
  $("map-opacity").value = state.opacity;
  $("map-opacity").addEventListener("input", (e) => { state.opacity = Number(e.target.value); saveState(); draw(); });
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
  $("download-csv").addEventListener("click", () => download(`/api/studies/${state.study}/export.csv`, "lesions.csv"));
  $("download-report-html").addEventListener("click", () => download(`/api/studies/${state.study}/report?format=html`, "report.html"));
  $("download-report-pdf").addEventListener("click", () => download(`/api/studies/${state.study}/report?format=pdf`, "report.pdf"));
  $("logout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); window.location.replace("/login"); });
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("add-lesion-button").addEventListener("click", () => openAddLesion().catch((error) => status(error.message)));
  $("add-study").addEventListener("change", toggleNewStudy);
  $("add-upload").addEventListener("change", (e) => { if (e.target.files.length) uploadClip(e.target.files[0]); });
  $("add-form").addEventListener("submit", submitAddLesion);
  $("add-cancel").addEventListener("click", () => $("add-lesion").close());
  $("help-close").addEventListener("click", () => $("help").close());
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", draw);
  selectTab(state.tab);
  loadStudies().catch((error) => status(error.message));
}

init();
