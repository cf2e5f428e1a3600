// The study tree on the left and opening a lesion: its clip(s) in the viewer, its ROIs, its newest analysis.
import {clearAnalysis, showAnalysis} from "./analysis.js";
import {getJSON} from "./api.js";
import {openClip} from "./examination.js";
import {saveState, state, view} from "./state.js";
import {$, el, plural} from "./util.js";
import {stopPlaying} from "./viewer.js";

const listeners = {studyOpened: () => {}};
const studyNames = new Map();  // study id → name, for the Cohort and Reading headers

// Cohort and Reading show state.study: the study of the selected lesion, else the one last opened in the tree.
export function onStudyOpened(callback) { listeners.studyOpened = callback; }

export const studyName = (studyId) => studyNames.get(studyId) || "";

function setStudy(studyId) {
  const changed = state.study !== studyId;
  state.study = studyId; saveState();
  if (changed) listeners.studyOpened(studyId);
}

export async function loadStudies() {
  const studies = await getJSON("/api/studies");
  const tree = $("studies");
  tree.replaceChildren();
  studyNames.clear();
  if (!studies.length) {
    tree.append(el("p", {class: "muted"}, "No study yet: add a lesion below, or ",
                   el("code", {}, "ceuskit study import manifest.csv"), "."));
    return;
  }
  for (const study of studies) {
    studyNames.set(study.id, study.name);
    const details = el("details", {class: "study", "data-id": study.id},
                       el("summary", {title: study.name}, el("span", {class: "name"}, study.name), " ",
                          el("span", {class: "muted"}, plural(study.n_lesions, "lesion"))));
    details.addEventListener("toggle", () => { if (details.open) openStudy(study.id, details); });
    tree.appendChild(details);
    if (state.study === study.id) details.open = true;
  }
  if (state.study === null || !studies.some((s) => s.id === state.study)) {
    state.study = studies[0].id; tree.firstChild.open = true;
  }
  listeners.studyOpened(state.study);
}

async function openStudy(studyId, details) {
  if (!view.lesion) setStudy(studyId);  // with a lesion selected, its study stays the one shown
  const study = await getJSON(`/api/studies/${studyId}`);
  details.querySelectorAll("ul").forEach((node) => node.remove());
  const list = el("ul");
  for (const patient of study.patients) {
    for (const lesion of patient.lesions) {
      const status = lesion.analysis ? lesion.analysis.status : "new";
      const name = `${patient.patient} · ${lesion.lesion}`;
      const item = el("li", {class: lesion.id === state.lesion ? "lesion active" : "lesion", "data-id": lesion.id,
                             "data-study": studyId, title: name},
                      el("span", {class: "name"}, name), el("span", {class: `badge ${status}`}, status));
      item.addEventListener("click", () => openLesion(lesion.id, studyId));
      list.appendChild(item);
    }
  }
  details.appendChild(list);
  if (state.lesion && list.querySelector(`[data-id="${state.lesion}"]`) && !view.lesion) openLesion(state.lesion, studyId);
}

// A lesion just made (added in a dialog, fetched from the PACS): the tree lists it, and it opens on its first clip.
export async function openNewLesion(studyId, lesionId) {
  state.study = Number(studyId); state.lesion = lesionId; state.clip = 0; state.frame = 0; saveState();
  view.lesion = null;
  await loadStudies();
  await openLesion(lesionId, Number(studyId));
}

export async function openLesion(lesionId, studyId) {
  stopPlaying();
  const lesion = await getJSON(`/api/lesions/${lesionId}`);
  if (state.lesion !== lesionId) { state.frame = 0; state.clip = 0; }
  state.lesion = lesionId; saveState();
  if (studyId !== undefined) setStudy(studyId);
  view.lesion = lesion; view.analysis = null;
  document.querySelectorAll(".lesion").forEach((node) => node.classList.toggle("active", Number(node.dataset.id) === lesionId));
  $("lesion-title").textContent = `${lesion.patient} · ${lesion.lesion}` +
    (lesion.ki67_percent != null ? ` · Ki-67 ${lesion.ki67_percent} %` : "") + (lesion.who_grade ? ` · ${lesion.who_grade}` : "");
  $("lesion-title").classList.remove("muted");
  const curves = Boolean(lesion.rois && lesion.rois.curves);
  $("viewer-column").hidden = curves;
  $("curves-note").hidden = !curves;
  $("delete-roi").parentElement.hidden = curves;  // nothing to draw or delete: the curves are the ROIs
  $("reference-frame").parentElement.hidden = curves;
  if (curves) showCurveRois(lesion);
  else await openClip(state.clip || 0);
  if (lesion.analysis && lesion.analysis.status === "ok") showAnalysis(lesion.analysis);
  else clearAnalysis();
}

// A lesion read from a table of curves: no images to show or draw on; its curves are its ROIs.
function showCurveRois(lesion) {
  view.clip = null; view.rois = []; view.selected = -1;
  const file = lesion.clip && lesion.clip.path ? lesion.clip.path.split("/").pop() : "the table";
  $("curves-note").textContent = `Curves read from ${file}: there are no images to show; Analyse reads the curves.`;
  $("roi-list").replaceChildren(...(lesion.rois.rois || []).map((roi) =>
    el("li", {}, `${roi.name} (${roi.role === "parenchyma" ? "liver reference" : roi.role})`)));
}
