// The study tree on the left and opening a lesion: its clip in the viewer, its ROIs, its newest analysis.
import {clearAnalysis, showAnalysis} from "./analysis.js";
import {getJSON} from "./api.js";
import {loadMap} from "./maps.js";
import {renderRoiList} from "./rois.js";
import {saveState, state, view} from "./state.js";
import {$, escapeHtml, plural} from "./util.js";
import {drawPhaseBands, showFrame, showLayout, stopPlaying} from "./viewer.js";

const listeners = {studyOpened: () => {}};

export function onStudyOpened(callback) { listeners.studyOpened = callback; }

export async function loadStudies() {
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
  if (state.study === null || !studies.some((s) => s.id === state.study)) {
    state.study = studies[0].id; tree.firstChild.open = true;
  }
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
  listeners.studyOpened(studyId);
  if (state.lesion && list.querySelector(`[data-id="${state.lesion}"]`) && !view.lesion) openLesion(state.lesion);
}

export async function openLesion(lesionId) {
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
  else clearAnalysis();
  if (state.map) await loadMap(state.map);
}
