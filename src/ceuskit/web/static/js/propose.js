// One-click proposals: with the Click tool (C) a click inside a lesion asks the server for its outline and a
// liver reference at its depth. They are drawn dashed, with their confidence, until accepted (Enter or Accept:
// saved marked "accepted"); a proposed ROI the reader changes afterwards is recorded "edited" by the server.
// "Find on sweeps" carries the first clip's ROIs to every sweep of the examination, marked proposed there.
import {pollJob, sendJSON} from "./api.js";
import {reloadLesion} from "./examination.js";
import {flushSaves, renderRoiList, roisChanged, setTool} from "./rois.js";
import {state, view} from "./state.js";
import {$, status} from "./util.js";
import {draw} from "./viewer.js";

function imagePoint(event) {
  const canvas = $("viewer"), box = canvas.getBoundingClientRect();
  return [Math.round(((event.clientX - box.left) * canvas.width) / box.width * 10) / 10,
          Math.round(((event.clientY - box.top) * canvas.height) / box.height * 10) / 10];
}

export function setClickTool() {
  setTool("click");
  $("tool-click").classList.add("active");
}

function pending() {
  return view.rois.some((roi) => roi.source === "proposed");
}

function showAccept() {
  $("accept-rois").hidden = !pending();
  $("carry-rois").hidden = !view.lesion || (view.lesion.clips || []).length < 2;
}

async function proposeAt(event) {
  if (!view.clip || view.tool !== "click") return;
  const [x, y] = imagePoint(event);
  const lesionId = view.lesion.id, position = view.position, frame = state.frame;
  $("save-state").textContent = "proposing…";
  try {
    const job = await sendJSON(`/api/lesions/${lesionId}/propose`, "POST", {x, y, frame, clip: position});
    const result = await pollJob(job, () => {});
    if (view.lesion.id !== lesionId || view.position !== position) return;  // the reader moved on
    view.rois = result.document.rois.map((roi) => Object.assign({}, roi));
    view.referenceFrame = result.document.reference_frame;
    view.selected = -1;
    renderRoiList(); draw(); showAccept();
    const notes = result.notes.length ? ` · ${result.notes.join("; ")}` : "";
    $("save-state").textContent = `proposed (confidence ${result.confidence.toFixed(2)}): Enter or Accept keeps it${notes}`;
  } catch (error) {
    $("save-state").textContent = `no proposal: ${error.message}`;
  }
}

// Accept the proposed ROIs on screen (saved, marked "accepted"); false when none is waiting.
export function acceptProposal() {
  if (!pending()) return false;
  for (const roi of view.rois) if (roi.source === "proposed") roi.source = "accepted";
  showAccept();
  roisChanged();
  return true;
}

async function carryToSweeps() {
  if (!(await flushSaves())) return;  // the carry reads the first clip's ROIs as the server holds them
  const lesionId = view.lesion.id;
  $("save-state").textContent = "finding the ROIs on the sweeps…";
  try {
    const job = await sendJSON(`/api/lesions/${lesionId}/carry`, "POST", {});
    const result = await pollJob(job, () => {});
    if (view.lesion.id !== lesionId) return;
    await reloadLesion(view.position);
    showAccept();
    $("save-state").textContent = `proposed on ${result.carried.length} sweep(s): open each to accept`;
  } catch (error) {
    status(error.message);
    $("save-state").textContent = `not carried: ${error.message}`;
  }
}

export function setupProposals() {
  $("viewer").addEventListener("click", proposeAt);
  $("tool-click").addEventListener("click", setClickTool);
  $("accept-rois").addEventListener("click", acceptProposal);
  $("carry-rois").addEventListener("click", carryToSweeps);
  document.addEventListener("ceuskit:clip-opened", showAccept);
}
