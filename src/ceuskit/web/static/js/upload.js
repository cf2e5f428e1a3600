// Clips of the data folder for the dialogs that pick one ("add a lesion", "add a sweep"), and uploads into it.
import {api, getJSON} from "./api.js";

// Fill a <select> with the data folder's clip files (path and size), choosing `selected` when given.
export function fillClipSelect(select, files, selected) {
  select.replaceChildren();
  if (!files.length) select.add(new Option("no clip in the data folder: upload one", ""));
  for (const file of files) {
    const megabytes = (file.size_bytes / 1048576).toFixed(1);
    const kind = file.kind === "curves" ? ", curves" : "";
    select.add(new Option(`${file.path} (${megabytes} MB${kind})`, file.path, false, file.path === selected));
  }
}

export const dataFolderClips = () => getJSON("/api/files");

// A table of time–intensity curves (read without a viewer) rather than a clip, by its name.
export const isCurveTable = (path) => /\.(csv|tsv|txt|xlsx)$/i.test(path || "");

// Upload a file into the data folder's uploads/; returns where it was saved ({path, kind, size_bytes}).
export async function uploadClip(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return (await api("/api/uploads", {method: "POST", body: form})).json();
}

// The upload input of a dialog: upload the chosen file, then list the clips again with it selected.
export async function uploadInto(select, file, {error, submit}) {
  error.textContent = `uploading ${file.name}…`;
  submit.disabled = true;
  try {
    const saved = await uploadClip(file);
    fillClipSelect(select, await dataFolderClips(), saved.path);
    error.textContent = "";
  } catch (failure) {
    error.textContent = `upload refused: ${failure.message}`;
  } finally {
    submit.disabled = false;
  }
}
