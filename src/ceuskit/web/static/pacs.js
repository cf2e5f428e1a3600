// ceuskit workstation, PACS view: search the hospital PACS, make a lesion from a series (the server fetches
// the clip), send a finished analysis back as SR + SEG. An ES module on its own: it adds its buttons and its
// dialog to the page when the server has a PACS (GET /api/pacs) and talks to the API with the page's session
// (cookie and CSRF token, through api.js).
import {api} from "./js/api.js";

const STATE_KEY = "ceuskit.state";

const el = (tag, attrs = {}, text = "") => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
};

async function call(path, options = {}) {
  const response = await api(path, options);
  try { return await response.json(); } catch (e) { return null; }  // not JSON
}

const post = (path, body) => call(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: body === undefined ? undefined : JSON.stringify(body)});

async function finished(job, onProgress) {
  for (;;) {
    const current = await call(`/api/jobs/${job.id}`);
    if (onProgress) onProgress(current.progress);
    if (current.status === "done") return current.result;
    if (current.status === "failed") throw new Error(current.error);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

function pageState() { return JSON.parse(localStorage.getItem(STATE_KEY) || "{}"); }

function setStatus(text) { const node = document.getElementById("status"); if (node) node.textContent = text || ""; }

// ----------------------------------------------------------------------------------------------- dialog
function buildDialog(info) {
  const dialog = el("dialog", {id: "pacs-dialog", "aria-labelledby": "pacs-title"});
  dialog.innerHTML = `
    <form id="pacs-search" class="form-grid" method="dialog">
      <h3 id="pacs-title">PACS <span class="muted"></span></h3>
      <label for="pacs-patient">Patient ID</label>
      <input id="pacs-patient" maxlength="64" autocomplete="off" placeholder="as in the PACS; * and ? wildcards">
      <label for="pacs-from">Study date from</label><input id="pacs-from" type="date">
      <label for="pacs-to">to</label><input id="pacs-to" type="date">
      <label for="pacs-modality">Modality</label><input id="pacs-modality" maxlength="16" value="US">
      <div class="toolbar span"><button id="pacs-search-button" class="primary" type="submit">Search</button>
        <span id="pacs-count" class="muted"></span></div>
      <div id="pacs-results" class="tree span" role="listbox" aria-label="PACS series"></div>
    </form>
    <form id="pacs-make" class="form-grid" method="dialog">
      <h3>Make a lesion from the chosen clip</h3>
      <label for="pacs-study">Study</label><select id="pacs-study"></select>
      <label for="pacs-pseudonym">Patient (pseudonym)</label>
      <input id="pacs-pseudonym" required maxlength="64" autocomplete="off" placeholder="no names: a study code">
      <label for="pacs-lesion">Lesion</label><input id="pacs-lesion" required maxlength="64" value="L1">
      <label for="pacs-ki67">Ki-67 (%)</label><input id="pacs-ki67" type="number" min="0" max="100" step="0.1">
      <label for="pacs-injection">Injection at (s of clip)</label>
      <input id="pacs-injection" type="number" min="0" step="0.1" value="0">
      <p id="pacs-error" class="error span" role="alert"></p>
      <div class="toolbar span">
        <button id="pacs-make-button" class="primary" type="submit" disabled>Fetch and add lesion</button>
        <progress id="pacs-progress" max="1" value="0" hidden></progress>
        <button id="pacs-close" type="button">Close</button>
      </div>
    </form>`;
  dialog.querySelector("h3 .muted").textContent = `${info.label} (${info.kind === "dimse" ? "DIMSE" : "DICOMweb"})`;
  document.body.appendChild(dialog);
  return dialog;
}

let chosen = null;

function showResults(found) {
  const box = document.getElementById("pacs-results");
  box.innerHTML = "";
  chosen = null;
  document.getElementById("pacs-make-button").disabled = true;
  document.getElementById("pacs-count").textContent =
    `${found.studies.length} stud${found.studies.length === 1 ? "y" : "ies"}${found.more ? " (more match: narrow the search)" : ""}`;
  for (const study of found.studies) {
    const details = el("details", {open: ""});
    const date = study.StudyDate ? `${study.StudyDate.slice(0, 4)}-${study.StudyDate.slice(4, 6)}-${study.StudyDate.slice(6)}` : "no date";
    details.appendChild(el("summary", {}, `${date} · ${study.PatientID || "?"} · ${study.StudyDescription || (study.ModalitiesInStudy || []).join("/")}`));
    const list = el("ul");
    for (const series of study.series) {
      for (const instance of series.instances) {
        const item = el("li", {class: "lesion", role: "option", tabindex: "0"});
        const frames = Number(instance.NumberOfFrames) > 1 ? `${instance.NumberOfFrames} frames` : "single frame";
        item.textContent = `series ${series.SeriesNumber ?? "–"} ${series.SeriesDescription || series.Modality || ""} · clip ${instance.InstanceNumber ?? "–"} · ${frames}`;
        item.addEventListener("click", () => {
          box.querySelectorAll("li").forEach((node) => node.classList.remove("active"));
          item.classList.add("active");
          chosen = {study_uid: study.StudyInstanceUID, series_uid: series.SeriesInstanceUID, instance_uid: instance.SOPInstanceUID};
          document.getElementById("pacs-make-button").disabled = false;
        });
        list.appendChild(item);
      }
    }
    details.appendChild(list);
    box.appendChild(details);
  }
}

async function search(event) {
  event.preventDefault();
  const error = document.getElementById("pacs-error");
  error.textContent = "";
  const params = new URLSearchParams();
  const value = (id) => document.getElementById(id).value.trim();
  if (value("pacs-patient")) params.set("patient_id", value("pacs-patient"));
  if (value("pacs-from") || value("pacs-to")) params.set("study_date", `${value("pacs-from")}..${value("pacs-to")}`);
  params.set("modality", value("pacs-modality"));
  document.getElementById("pacs-count").textContent = "searching…";
  try { showResults(await call(`/api/pacs/studies?${params}`)); } catch (e) {
    document.getElementById("pacs-count").textContent = "";
    error.textContent = e.message;
  }
}

async function make(event) {
  event.preventDefault();
  if (!chosen) return;
  const error = document.getElementById("pacs-error");
  const progress = document.getElementById("pacs-progress");
  const button = document.getElementById("pacs-make-button");
  const ki67 = document.getElementById("pacs-ki67").value;
  const body = Object.assign({}, chosen, {
    study_id: Number(document.getElementById("pacs-study").value),
    patient: document.getElementById("pacs-pseudonym").value.trim(),
    lesion: document.getElementById("pacs-lesion").value.trim(),
    ki67_percent: ki67 === "" ? null : Number(ki67),
    injection_time_s: Number(document.getElementById("pacs-injection").value || 0)});
  error.textContent = "";
  button.disabled = true; progress.hidden = false;
  try {
    const result = await finished(await post("/api/pacs/lesions", body), (fraction) => { progress.value = fraction; });
    const state = Object.assign(pageState(), {study: result.study_id, lesion: result.lesion_id, frame: 0});
    localStorage.setItem(STATE_KEY, JSON.stringify(state));
    window.location.reload();  // the page opens the new lesion, ready for its ROIs
  } catch (e) {
    error.textContent = e.message;
  } finally {
    button.disabled = !chosen; progress.hidden = true;
  }
}

async function openDialog(dialog) {
  const studies = await call("/api/studies");
  const select = document.getElementById("pacs-study");
  select.innerHTML = "";
  const current = pageState().study;
  for (const study of studies) select.add(new Option(study.name, study.id, false, study.id === current));
  if (!studies.length) select.add(new Option("create a study first (+ Lesion)", ""));
  document.getElementById("pacs-error").textContent = "";
  dialog.showModal();
  document.getElementById("pacs-patient").focus();
}

// ------------------------------------------------------------------------------------------- push back
async function pushResults(button) {
  const lesion = pageState().lesion;
  if (!lesion) { setStatus("choose a lesion first"); return; }
  button.disabled = true;
  setStatus("sending SR and SEG to the PACS…");
  try {
    const result = await finished(await post(`/api/lesions/${lesion}/push`));
    setStatus(`stored ${result.stored} object(s) in the PACS at ${result.server}`);
  } catch (e) {
    setStatus(`not sent: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

async function init() {
  let info;
  try { info = await call("/api/pacs"); } catch (e) { return; }
  if (!info.configured) return;
  const dialog = buildDialog(info);
  const open = el("button", {id: "pacs-button", title: "Search the PACS and add a lesion from a clip there"}, "PACS…");
  document.getElementById("add-lesion-button").after(open);
  open.addEventListener("click", () => openDialog(dialog).catch((e) => setStatus(e.message)));
  const push = el("button", {id: "pacs-push", title: "Send this lesion's analysis to the PACS (SR + SEG, in the clip's study)"}, "Send to PACS");
  document.getElementById("analyse").after(push);
  push.addEventListener("click", () => pushResults(push));
  document.getElementById("pacs-search").addEventListener("submit", search);
  document.getElementById("pacs-make").addEventListener("submit", make);
  document.getElementById("pacs-close").addEventListener("click", () => dialog.close());
}

init();
