// The cohort dashboard: pattern proportions, onset vs Ki-67, downloads of the table and the report.
import {api, getJSON} from "./api.js";
import {state} from "./state.js";
import {studyName} from "./studies.js";
import {$, plural, shorten, status, svgEl} from "./util.js";

// The dashboard of state.study (the selected lesion's study), named in its header.
export async function loadCohort() {
  const studyId = state.study;
  if (studyId === null) return;
  $("cohort-study").textContent = shorten(studyName(studyId), 60);
  $("cohort-study").title = studyName(studyId);
  const [stats, table] = await Promise.all([getJSON(`/api/studies/${studyId}/stats`), getJSON(`/api/studies/${studyId}/table`)]);
  if (state.study !== studyId) return;  // another study was chosen meanwhile: its own load draws it
  $("cohort-title").textContent = `${plural(stats.n_patients, "patient")}, ${plural(stats.n_lesions, "lesion")}`;
  drawPatterns(stats.patterns || {});
  const correlation = (stats.correlations || []).find((c) => c.x === "arterial_onset_s" && c.y === "ki67");
  $("rho").textContent = correlation && correlation.rho !== null ? `Spearman rs = ${correlation.rho.toFixed(3)}, p = ${correlation.p_value.toFixed(3)}` : "";
  drawScatter(table);
}

function drawPatterns(patterns) {
  const svg = $("patterns"); svg.replaceChildren();
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

const GRADES = [["G1", "G1 (Ki-67 < 3 %)"], ["G2", "G2 (3–20 %)"], ["G3", "G3 (> 20 %)"], ["", "no grade"]];

function drawScatter(rows) {
  const svg = $("scatter"); svg.replaceChildren();
  const points = rows.filter((r) => r.ki67 !== null && r.arterial_onset_s !== null);
  if (!points.length) return;
  const W = 460, H = 300, L = 45, B = 35, T = 30, R = 10;
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
  // the legend of the grade colours, across the top
  const legend = svgEl("g", {class: "legend", "aria-label": "WHO 2019 grade"});
  let x = L;
  for (const [grade, label] of GRADES) {
    legend.appendChild(svgEl("circle", {cx: x + 5, cy: 12, r: 5, class: `dot ${grade}`, "data-grade": grade || "none"}));
    legend.appendChild(svgEl("text", {x: x + 14, y: 16, class: "axis"}, label));
    x += 14 + 6.2 * label.length + 14;
  }
  svg.appendChild(legend);
  for (const p of points) {
    const dot = svgEl("circle", {cx: X(p.ki67), cy: Y(p.arterial_onset_s), r: 5, class: `dot ${p.who_grade || ""}`});
    dot.appendChild(svgEl("title", {}, `${p.patient_id} ${p.lesion_id}: Ki-67 ${p.ki67} %, onset ${p.arterial_onset_s.toFixed(1)} s`));
    svg.appendChild(dot);
  }
}

export async function download(path, filename) {
  status("preparing download…");
  try {
    const blob = await (await api(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob); link.download = filename; link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    status("");
  } catch (error) { status(`download failed: ${error.message}`); }
}
