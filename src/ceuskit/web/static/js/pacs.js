// The PACS view: search the hospital PACS, make a lesion from a series (the server fetches the clip) and open
// it in place, send a finished analysis back as SR + SEG. Its buttons show only when the server has a PACS
// (GET /api/pacs); its dialog is in index.html.
import {getJSON, pollJob, sendJSON} from "./api.js";
import {state, view} from "./state.js";
import {openNewLesion} from "./studies.js";
import {$, el, status} from "./util.js";

let chosen = null;  // {study_uid, series_uid, instance_uid} of the clip picked in the results

const isoDate = (dicomDate) => `${dicomDate.slice(0, 4)}-${dicomDate.slice(4, 6)}-${dicomDate.slice(6)}`;

function choose(item, clip) {
  $("pacs-results").querySelectorAll("li").forEach((node) => node.classList.remove("active"));
  item.classList.add("active");
  chosen = clip;
  $("pacs-make-button").disabled = false;
}

// One <details> per study, one option per instance (a clip) of its series.
function studyNode(study) {
  const date = study.StudyDate ? isoDate(study.StudyDate) : "no date";
  const list = el("ul");
  for (const series of study.series) {
    for (const instance of series.instances) {
      const frames = Number(instance.NumberOfFrames) > 1 ? `${instance.NumberOfFrames} frames` : "single frame";
      const item = el("li", {class: "lesion", role: "option", tabindex: 0},
                      `series ${series.SeriesNumber ?? "–"} ${series.SeriesDescription || series.Modality || ""}` +
                      ` · clip ${instance.InstanceNumber ?? "–"} · ${frames}`);
      const clip = {study_uid: study.StudyInstanceUID, series_uid: series.SeriesInstanceUID,
                    instance_uid: instance.SOPInstanceUID};
      item.addEventListener("click", () => choose(item, clip));
      list.append(item);
    }
  }
  const described = study.StudyDescription || (study.ModalitiesInStudy || []).join("/");
  return el("details", {open: true}, el("summary", {}, `${date} · ${study.PatientID || "?"} · ${described}`), list);
}

function showResults(found) {
  chosen = null;
  $("pacs-make-button").disabled = true;
  const n = found.studies.length;
  $("pacs-count").textContent = `${n} stud${n === 1 ? "y" : "ies"}${found.more ? " (more match: narrow the search)" : ""}`;
  $("pacs-results").replaceChildren(...found.studies.map(studyNode));
}

async function search(event) {
  event.preventDefault();
  $("pacs-error").textContent = "";
  const value = (id) => $(id).value.trim();
  const params = new URLSearchParams();
  if (value("pacs-patient")) params.set("patient_id", value("pacs-patient"));
  if (value("pacs-from") || value("pacs-to")) params.set("study_date", `${value("pacs-from")}..${value("pacs-to")}`);
  params.set("modality", value("pacs-modality"));
  $("pacs-count").textContent = "searching…";
  try { showResults(await getJSON(`/api/pacs/studies?${params}`)); } catch (error) {
    $("pacs-count").textContent = "";
    $("pacs-error").textContent = error.message;
  }
}

// Fetch the chosen clip into a new lesion (a job on the server), then open that lesion, ready for its ROIs.
async function make(event) {
  event.preventDefault();
  if (!chosen) return;
  const progress = $("pacs-progress"), button = $("pacs-make-button");
  const ki67 = $("pacs-ki67").value;
  const body = Object.assign({}, chosen, {
    study_id: Number($("pacs-study").value), patient: $("pacs-pseudonym").value.trim(),
    lesion: $("pacs-lesion").value.trim(), ki67_percent: ki67 === "" ? null : Number(ki67),
    injection_time_s: Number($("pacs-injection").value || 0)});
  $("pacs-error").textContent = "";
  button.disabled = true; progress.hidden = false;
  try {
    const job = await sendJSON("/api/pacs/lesions", "POST", body);
    const result = await pollJob(job, (fraction) => { progress.value = fraction; });
    $("pacs-dialog").close();
    await openNewLesion(result.study_id, result.lesion_id);
    status("lesion fetched from the PACS: draw its ROIs");
  } catch (error) {
    $("pacs-error").textContent = error.message;
  } finally {
    button.disabled = !chosen; progress.hidden = true;
  }
}

async function openDialog() {
  const studies = await getJSON("/api/studies");
  const select = $("pacs-study");
  select.replaceChildren(...studies.map((study) => new Option(study.name, study.id, false, study.id === state.study)));
  if (!studies.length) select.add(new Option("create a study first (+ Lesion)", ""));
  $("pacs-error").textContent = "";
  $("pacs-dialog").showModal();
  $("pacs-patient").focus();
}

// Send the open lesion's newest analysis to the PACS (SR + SEG, a job on the server).
async function pushResults() {
  if (!view.lesion) { status("choose a lesion first"); return; }
  const button = $("pacs-push");
  button.disabled = true;
  status("sending SR and SEG to the PACS…");
  try {
    const job = await sendJSON(`/api/lesions/${view.lesion.id}/push`, "POST", {});
    const result = await pollJob(job, () => {});
    status(`stored ${result.stored} object(s) in the PACS at ${result.server}`);
  } catch (error) {
    status(`not sent: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// Show the PACS buttons when the server has a PACS; wire the dialog.
export async function setupPacs() {
  const info = await getJSON("/api/pacs");
  if (!info.configured) return;
  $("pacs-label").textContent = `${info.label} (${info.kind === "dimse" ? "DIMSE" : "DICOMweb"})`;
  $("pacs-button").hidden = false;
  $("pacs-push").hidden = false;
  $("pacs-button").addEventListener("click", () => openDialog().catch((error) => status(error.message)));
  $("pacs-push").addEventListener("click", pushResults);
  $("pacs-search").addEventListener("submit", search);
  $("pacs-make").addEventListener("submit", make);
  $("pacs-close").addEventListener("click", () => $("pacs-dialog").close());
}
