// "Add a sweep": one more clip of the open lesion's examination (from the data folder or an upload), checked
// by the server to be the same patient and study and not to overlap the others; and taking one out again.
import {api, sendJSON} from "./api.js";
import {reloadLesion} from "./examination.js";
import {view} from "./state.js";
import {$, status} from "./util.js";
import {dataFolderClips, fillClipSelect, uploadInto} from "./upload.js";

export async function openAddClip() {
  if (!view.lesion) { status("open a lesion first"); return; }
  fillClipSelect($("add-sweep-file"), await dataFolderClips(), null);
  $("add-sweep-error").textContent = "";
  $("add-sweep-upload").value = "";
  $("add-sweep-offset").value = "";
  $("add-sweep").showModal();
}

async function submitAddClip(event) {
  event.preventDefault();
  $("add-sweep-error").textContent = "";
  const offset = $("add-sweep-offset").value;
  try {
    const added = await sendJSON(`/api/lesions/${view.lesion.id}/clips`, "POST",
                                 {clip: $("add-sweep-file").value, offset_s: offset === "" ? null : Number(offset)});
    $("add-sweep").close();
    await reloadLesion(added.position);
    status(`clip ${added.position + 1} added: draw its ROIs`);
  } catch (error) {
    $("add-sweep-error").textContent = error.message;
  }
}

async function removeClip() {
  const position = view.position;
  if (!view.lesion || position === 0) return;
  if (!window.confirm(`Take clip ${position + 1} and its ROIs out of this lesion? (The file stays.)`)) return;
  try {
    await api(`/api/lesions/${view.lesion.id}/clips/${position}`, {method: "DELETE"});
    await reloadLesion(0);
    status(`clip ${position + 1} removed`);
  } catch (error) {
    status(`not removed: ${error.message}`);
  }
}

export function setupAddClip() {
  $("add-sweep-button").addEventListener("click", () => openAddClip().catch((error) => status(error.message)));
  $("remove-clip").addEventListener("click", removeClip);
  $("add-sweep-upload").addEventListener("change", (e) => {
    if (e.target.files.length) {
      uploadInto($("add-sweep-file"), e.target.files[0], {error: $("add-sweep-error"), submit: $("add-sweep-submit")});
    }
  });
  $("add-sweep-form").addEventListener("submit", submitAddClip);
  $("add-sweep-cancel").addEventListener("click", () => $("add-sweep").close());
}
