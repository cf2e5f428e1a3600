// The administrator's workstation: studies → lesions, clip viewer with ROI drawing, analysis, curves, maps,
// cohort dashboard, reading sessions. Readers are sent to their own page (/read).
import {openAddClip, setupAddClip} from "./addclip.js";
import {setupAddLesion, openAddLesion} from "./addlesion.js";
import {analyse} from "./analysis.js";
import {signOut, whoAmI} from "./api.js";
import {download, loadCohort} from "./cohort.js";
import {loadMap} from "./maps.js";
import {setupPacs} from "./pacs.js";
import {loadReading, setupReadingAdmin} from "./reading-admin.js";
import {acceptProposal, setClickTool, setupProposals} from "./propose.js";
import {cancelDrawing, clearRois, closePolygon, deleteSelected, setTool, setupCanvas} from "./rois.js";
import {saveState, state, view} from "./state.js";
import {loadStudies, onStudyOpened} from "./studies.js";
import {$, status, typing} from "./util.js";
import {draw, showFrame, togglePlay} from "./viewer.js";

const TABS = ["lesion", "cohort", "reading"];

function selectTab(tab) {
  state.tab = TABS.includes(tab) ? tab : "lesion"; saveState();
  for (const name of TABS) {
    $(`view-${name}`).hidden = name !== state.tab;
    $(`tab-${name}`).classList.toggle("active", name === state.tab);
  }
  if (state.tab === "cohort") loadCohort().catch((error) => status(error.message));
  if (state.tab === "reading") loadReading().catch((error) => status(error.message));
}

function onKey(event) {
  if (typing(event) || document.querySelector("dialog[open]")) return;
  const step = event.shiftKey ? 10 : 1;
  const keys = {
    ArrowRight: () => showFrame(state.frame + step), ArrowLeft: () => showFrame(state.frame - step),
    Home: () => showFrame(0), End: () => showFrame(view.clip ? view.clip.n_frames - 1 : 0),
    " ": togglePlay, e: () => setTool("ellipse"), p: () => setTool("polygon"), a: analyse,
    l: () => { const s = $("role-select"); s.value = s.value === "lesion" ? "parenchyma" : "lesion"; },
    Enter: () => { if (!acceptProposal()) closePolygon(); }, Escape: cancelDrawing, c: setClickTool,
    Delete: deleteSelected, "?": () => $("help").showModal(), n: () => openAddLesion().catch((e) => status(e.message)),
    s: () => openAddClip().catch((e) => status(e.message)),
  };
  const action = keys[event.key] || keys[event.key.toLowerCase()];
  const anyLesion = ["?", "n"].includes(event.key.toLowerCase()) || (event.key.toLowerCase() === "a" && view.lesion);
  if (action && (view.clip || anyLesion)) { event.preventDefault(); action(); }
}

async function init() {
  const user = await whoAmI();
  if (user.role !== "admin") { window.location.replace("/read"); return; }
  $("user-name").textContent = user.username;
  setupCanvas();
  setupProposals();
  setTool("ellipse");
  setupAddLesion();
  setupAddClip();
  setupReadingAdmin();
  setupPacs().catch((error) => status(`PACS: ${error.message}`));
  $("frame-slider").addEventListener("input", (e) => showFrame(Number(e.target.value)));
  $("prev").addEventListener("click", () => showFrame(state.frame - 1));
  $("next").addEventListener("click", () => showFrame(state.frame + 1));
  $("play").addEventListener("click", togglePlay);
  $("tool-ellipse").addEventListener("click", () => setTool("ellipse"));
  $("tool-polygon").addEventListener("click", () => setTool("polygon"));
  $("delete-roi").addEventListener("click", deleteSelected);
  $("clear-rois").addEventListener("click", clearRois);
  $("analyse").addEventListener("click", analyse);
  $("map-select").value = state.map;
  $("map-select").addEventListener("change", (e) => loadMap(e.target.value));
  $("map-opacity").value = state.opacity;
  $("map-opacity").addEventListener("input", (e) => { state.opacity = Number(e.target.value); saveState(); draw(); });
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
  $("download-csv").addEventListener("click", () => download(`/api/studies/${state.study}/export.csv`, "lesions.csv"));
  $("download-report-html").addEventListener("click", () => download(`/api/studies/${state.study}/report?format=html`, "report.html"));
  $("download-report-pdf").addEventListener("click", () => download(`/api/studies/${state.study}/report?format=pdf`, "report.pdf"));
  $("logout").addEventListener("click", signOut);
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("help-close").addEventListener("click", () => $("help").close());
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", draw);
  onStudyOpened(() => {
    if (state.tab === "cohort") loadCohort().catch((error) => status(error.message));
    if (state.tab === "reading") loadReading().catch((error) => status(error.message));
  });
  selectTab(state.tab);
  await loadStudies();
}

init().catch((error) => status(error.message));
