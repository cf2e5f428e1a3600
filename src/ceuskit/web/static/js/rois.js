// ROI drawing on the viewer (ellipse by dragging from the centre, polygon by clicks), the ROI list, and
// saving: drafts stay in this browser until the server has accepted them.
import {getJSON, sendJSON} from "./api.js";
import {loadMap} from "./maps.js";
import {draftKey, state, view} from "./state.js";
import {$, el} from "./util.js";
import {draw} from "./viewer.js";

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

export function setTool(tool) {
  view.tool = tool; view.drawing = null;
  $("tool-ellipse").classList.toggle("active", tool === "ellipse");
  $("tool-polygon").classList.toggle("active", tool === "polygon");
  $("tool-click").classList.toggle("active", tool === "click");
  draw();
}

export function setupCanvas() {
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

export function closePolygon() {
  if (!view.drawing || view.drawing.shape !== "polygon") return;
  const points = view.drawing.points.slice(0, -1).filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0] || p[1] !== all[i - 1][1]);
  const roi = {role: view.drawing.role, shape: "polygon", points};
  view.drawing = null;
  if (points.length >= 3) addRoi(roi); else draw();
}

export function cancelDrawing() { view.drawing = null; draw(); }

export function renderRoiList() {
  $("roi-list").replaceChildren(...view.rois.map((roi, i) => {
    const role = roi.role === "parenchyma" ? "parenchyma" : "lesion";
    const proposed = roi.source ? `, ${roi.source}${roi.confidence !== undefined ? ` ${Number(roi.confidence).toFixed(2)}` : ""}` : "";
    return el("li", {class: i === view.selected ? "selected" : "", onclick: () => { view.selected = i; renderRoiList(); draw(); }},
              el("span", {class: `swatch ${role}`}), roi.name, " ",
              el("span", {class: "muted"}, `${role === "parenchyma" ? "liver reference" : "lesion"}, ${roi.shape}${proposed}`));
  }));
  $("reference-frame").textContent = view.referenceFrame === null ? "—" : view.referenceFrame + 1;
}

let saveTimer = null;

export function cancelSave() { clearTimeout(saveTimer); }

export function roisChanged() {
  renderRoiList(); draw();
  localStorage.setItem(draftKey(), JSON.stringify(roiDocument()));
  const ready = view.rois.some((r) => r.role === "lesion");
  $("save-state").textContent = ready ? "saving…" : "unsaved: draw a lesion ROI";
  clearTimeout(saveTimer);
  if (ready) saveTimer = setTimeout(saveRois, 250);
}

function roiDocument() {
  return {reference_frame: view.referenceFrame || 0, units: "px",
          rois: view.rois.map(({name, role, shape, center, radii, points, box, reference, source, confidence}) =>
            Object.fromEntries(Object.entries({name, role, shape, center, radii, points, box, reference, source, confidence})
              .filter(([, v]) => v !== undefined)))};
}

let saving = Promise.resolve(true);  // the saves in order: a later one never lands before an earlier one

// Save the ROIs as they are now. Saves run one after another; a save that comes back after the ROIs changed
// again leaves the newer draft (and its pending save) alone, so nothing drawn meanwhile is dropped.
function saveRois() {
  const lesionId = view.lesion.id, position = view.position, key = draftKey();
  const text = JSON.stringify(roiDocument());
  const run = async () => {
    try {
      await sendJSON(`/api/lesions/${lesionId}/rois?clip=${position}`, "PUT", JSON.parse(text));
      if (localStorage.getItem(key) !== text) return true;  // changed while saving: the newer draft is saved next
      localStorage.removeItem(key);
      $("save-state").textContent = "saved";
      view.lesion = await getJSON(`/api/lesions/${lesionId}`);
      view.overlay = null; if (state.map) loadMap(state.map);
      return true;
    } catch (error) {
      $("save-state").textContent = `not saved: ${error.message}`;
      return false;
    }
  };
  saving = saving.then(run, run);
  return saving;
}

// Wait for the saves under way, then save what is still unsaved; false when a save failed.
export async function flushSaves() {
  cancelSave();
  await saving;
  return localStorage.getItem(draftKey()) ? saveRois() : true;
}

export function deleteSelected() {
  if (view.selected < 0) return;
  view.rois.splice(view.selected, 1); view.selected = -1;
  if (!view.rois.length) view.referenceFrame = null;
  roisChanged();
}

export function clearRois() {
  view.rois = []; view.selected = -1; view.referenceFrame = null; roisChanged();
}
