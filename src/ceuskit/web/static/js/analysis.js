// Running an analysis (a job on the server) and showing its result: labels, parameters and the curves.
import {getJSON, pollJob, sendJSON} from "./api.js";
import {flushSaves} from "./rois.js";
import {PHASES, view} from "./state.js";
import {$, el, fmt, shorten, status, svgEl} from "./util.js";
import {drawPhaseBands} from "./viewer.js";

export async function analyse() {
  if (!view.lesion) return;
  if (!(await flushSaves())) return;
  const bar = $("progress");
  bar.hidden = false; bar.value = 0; $("analyse").disabled = true; status("analysing…");
  try {
    const kinetics = $("kinetics") ? $("kinetics").value : "auto";  // bolus | replenishment | auto
    const job = await sendJSON(`/api/lesions/${view.lesion.id}/analyze?kinetics=${kinetics}`, "POST", {});
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

export function clearAnalysis() {
  $("labels").querySelector("tbody").replaceChildren();
  $("quality").replaceChildren();
  $("quality").hidden = true;
  $("tic").replaceChildren();
}

export function showAnalysis(analysis) {
  view.analysis = analysis;
  const doc = analysis.document;
  const phases = doc.provenance && doc.provenance.options && doc.provenance.options.phases;
  if (phases) drawPhaseBands(phases);
  const body = $("labels").querySelector("tbody");
  body.replaceChildren();
  for (const lesion of doc.lesions || []) {
    const art = lesion.arterial_phase, pv = lesion.portal_venous_phase, late = lesion.late_phase;
    const params = ((doc.rois || {})[lesion.roi] || {}).parameters || {};
    const rows = [
      [`${lesion.roi}`, `vs ${lesion.reference}`, "head"],
      ["Arterial phase", art.enhancement, "label-arterial"],
      ["Onset", art.onset_s == null && art.onset_reason ? `n/a (${art.onset_reason.replace("_", " ")})`
        : fmt(art.onset_s, 1, " s"), "onset"],
      ["Peak vs liver", fmt(art.relative_peak_db, 1, " dB")],
      ["Wash-out", pv.washout ? `${pv.washout_timing}, ${pv.washout_degree}` : "none", "label-washout"],
      ["Wash-out onset", washoutOnset(pv), "washout-onset"],
      ["Late phase", late.enhancement, "label-late"],
      ["Late vs liver", fmt(late.relative_db, 1, " dB")],
      ["Time to peak", fmt(params.time_to_peak_s, 1, " s")],
      ["Mean transit time", fmt(params.mean_transit_time_s, 1, " s")],
      ["CEUS LI-RADS", lesion.lirads && lesion.lirads.category ? lesion.lirads.category : "n/a"],
    ];
    for (const [name, value, id] of rows) {
      body.append(el("tr", {class: id === "head" ? "head" : null},
                     el("th", {}, name), el("td", {id: id && id !== "head" ? id : null}, String(value))));
    }
  }
  showQuality(doc.quality || []);
  drawTic(doc);
}

function showQuality(flags) {
  const list = $("quality");
  list.hidden = flags.length === 0;
  list.replaceChildren(...flags.map((flag) =>
    el("li", {class: `flag ${flag.severity}`, "data-code": flag.code},
       el("b", {}, flag.code.replaceAll("_", " ")), `${flag.roi ? ` (${flag.roi})` : ""}: ${flag.message}`)));
}

// A wash-out that began between two clips is known only to lie in the gap between them.
function washoutOnset(pv) {
  const interval = pv.washout_onset_interval_s;
  if (pv.washout_onset_s == null && interval) return `${fmt(interval[0], 0)}–${fmt(interval[1], 0)} s (between clips)`;
  return fmt(pv.washout_onset_s, 1, " s");
}

function drawTic(doc) {
  const svg = $("tic");
  svg.replaceChildren();
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
    const refill = curves.refill_fitted && curves.refill_fitted[roi];  // replenishment fits after destructions
    if (refill && refill.some((v) => v !== null)) series.push({name: `${roi} refill fit`, role, values: refill, dash: "2 3"});
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
  // an examination's clips: the curves break between them and the gaps say there was no recording
  const clip = curves.tic.clip;
  const newSegment = (i) => Boolean(clip) && i > 0 && clip[i] !== clip[i - 1];
  // no line across a stretch without samples (the server's fits are already left out where they do not
  // describe the data, over gaps and after the last frame)
  const maxStep = curves.max_step_s;
  const gapBefore = (i) => Boolean(maxStep) && i > 0 && t[i] - t[i - 1] > maxStep;
  t.forEach((time, i) => {
    if (!newSegment(i)) return;
    const x0 = X(t[i - 1]), x1 = X(time);
    svg.appendChild(svgEl("rect", {x: x0, y: T, width: Math.max(0, x1 - x0), height: H - T - B, class: "gap",
                                   "data-from": t[i - 1], "data-to": time}));
    if (x1 - x0 > 60) svg.appendChild(svgEl("text", {x: (x0 + x1) / 2, y: H - B - 6, "text-anchor": "middle", class: "gap"}, "no recording"));
  });
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
      if (newSegment(i) || gapBefore(i)) pen = false;
      if (y === null || !Number.isFinite(y)) { pen = false; return; }
      path += `${pen ? "L" : "M"}${X(t[i]).toFixed(1)},${Y(y).toFixed(1)}`; pen = true;
    });
    svg.appendChild(svgEl("path", {d: path, class: `curve ${s.role}`, "stroke-dasharray": s.dash, "data-name": s.name}));
  }
  for (const item of doc.destructions || []) {  // high-MI destructions: the bolus reading stops before the first
    svg.appendChild(svgEl("rect", {x: X(item.start_s), y: T, width: Math.max(2, X(item.destruction_s) - X(item.start_s)),
                                   height: H - T - B, class: "destruction"}));
    svg.appendChild(svgEl("text", {x: X(item.start_s) + 3, y: H - B - 6, class: "axis"}, "destruction"));
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
    const label = svgEl("text", {x: W - R - 105, y: ly + 4, class: "axis", "data-name": s.name}, shorten(s.name, 17));
    label.appendChild(svgEl("title", {}, s.name));  // the whole name on hover
    svg.appendChild(label);
    ly += 15;
  }
}
