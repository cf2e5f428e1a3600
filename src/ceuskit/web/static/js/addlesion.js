// "Add a lesion": a clip of the data folder or an upload, a pseudonymous patient code, Ki-67.
import {getJSON, sendJSON} from "./api.js";
import {state} from "./state.js";
import {$, status} from "./util.js";
import {openNewLesion} from "./studies.js";
import {dataFolderClips, fillClipSelect, isCurveTable, uploadInto} from "./upload.js";

export async function openAddLesion() {
  const [studies, files] = await Promise.all([getJSON("/api/studies"), dataFolderClips()]);
  const studySelect = $("add-study");
  studySelect.replaceChildren(...studies.map((study) => new Option(study.name, study.id, false, study.id === state.study)));
  studySelect.add(new Option("new study…", "new", false, !studies.length));
  toggleNewStudy();
  fillClipSelect($("add-clip"), files, null);
  toggleCurveOptions();
  $("add-error").textContent = "";
  $("add-upload").value = "";
  $("add-lesion").showModal();
}

// A curve table has no images: its intensities' units may be asked for instead.
function toggleCurveOptions() {
  const curves = isCurveTable($("add-clip").value);
  document.querySelectorAll(".curves-only").forEach((node) => { node.hidden = !curves; });
}

function toggleNewStudy() {
  const isNew = $("add-study").value === "new";
  document.querySelectorAll(".new-study").forEach((node) => { node.hidden = !isNew; });
  $("add-study-name").required = isNew;
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
    if (isCurveTable(body.clip) && $("add-units").value) body.units = $("add-units").value;
    const created = await sendJSON(`/api/studies/${studyId}/lesions`, "POST", body);
    $("add-lesion").close();
    await openNewLesion(studyId, created.id);
    status(isCurveTable(body.clip) ? "lesion added: analyse its curves" : "lesion added: draw its ROIs");
  } catch (error) {
    $("add-error").textContent = error.message;
  }
}

export function setupAddLesion() {
  $("add-lesion-button").addEventListener("click", () => openAddLesion().catch((error) => status(error.message)));
  $("add-study").addEventListener("change", toggleNewStudy);
  $("add-clip").addEventListener("change", toggleCurveOptions);
  $("add-upload").addEventListener("change", (e) => {
    if (e.target.files.length) {
      uploadInto($("add-clip"), e.target.files[0], {error: $("add-error"), submit: $("add-submit")}).then(toggleCurveOptions);
    }
  });
  $("add-form").addEventListener("submit", submitAddLesion);
  $("add-cancel").addEventListener("click", () => $("add-lesion").close());
}
