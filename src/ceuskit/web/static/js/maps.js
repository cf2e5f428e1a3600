// Parametric map overlays: computed on the server (a job), shown over the frame with an opacity slider.
import {api, pollJob, sendJSON} from "./api.js";
import {saveState, state, view} from "./state.js";
import {$, status} from "./util.js";
import {draw} from "./viewer.js";

export async function loadMap(name) {
  state.map = name; saveState();
  view.overlay = null; $("map-legend").textContent = "";
  if (!name || !view.lesion) { draw(); return; }
  if (view.position !== 0) { $("map-legend").textContent = "maps are of the first clip"; draw(); return; }
  if (!((view.lesion.rois || {}).rois || []).some((roi) => roi.role === "lesion")) {
    $("map-legend").textContent = "draw and save a lesion ROI first"; draw(); return;
  }
  try {
    let response;
    try { response = await api(`/api/lesions/${view.lesion.id}/map/${name}`); } catch (error) {
      status("computing parametric maps…");
      const bar = $("progress"); bar.hidden = false;
      await pollJob(await sendJSON(`/api/lesions/${view.lesion.id}/map`, "POST", {}), (p) => { bar.value = p; });
      bar.hidden = true;
      response = await api(`/api/lesions/${view.lesion.id}/map/${name}`);
    }
    view.overlay = await createImageBitmap(await response.blob());
    const unit = response.headers.get("X-Map-Unit");
    $("map-legend").textContent = `${response.headers.get("X-Map-Min")} … ${response.headers.get("X-Map-Max")} ${unit || ""}`;
    status("");
  } catch (error) {
    status(`map failed: ${error.message}`);
    $("progress").hidden = true;
  }
  draw();
}
