// A lesion's examination: its clips (a loop, then late-phase sweeps) on one time axis, the one on screen, the
// timeline across them with its gaps, taking a sweep out again.
import {getJSON} from "./api.js";
import {loadMap} from "./maps.js";
import {renderRoiList} from "./rois.js";
import {PHASES, draftKey, saveState, state, view} from "./state.js";
import {$, el, status} from "./util.js";
import {drawPhaseBands, showFrame, showLayout, stopPlaying} from "./viewer.js";

// Seconds after the injection at which clip `position` starts (its place on the examination's time axis).
export function clipStart(position) {
  const starts = view.lesion && view.lesion.timeline && view.lesion.timeline.starts_s;
  return (starts ? starts[position] : 0) - ((view.lesion && view.lesion.injection_time_s) || 0);
}

// Show clip `position` of the open lesion: its frames, its own ROIs and reference frame, its place in time.
export async function openClip(position) {
  stopPlaying();
  const clips = view.lesion.clips || [];
  position = Math.max(0, Math.min(clips.length - 1, position));
  const changed = position !== state.clip;
  view.position = position; state.clip = position;
  if (changed) state.frame = 0;
  saveState();
  view.frameCache.clear(); view.overlay = null;
  const clip = clips[position];
  const draft = localStorage.getItem(draftKey());
  const document_ = draft ? JSON.parse(draft) : (clip.rois || {rois: []});
  view.rois = (document_.rois || []).map((roi) => Object.assign({}, roi));
  view.referenceFrame = view.rois.length ? (document_.reference_frame || 0) : null;
  view.selected = -1;
  $("save-state").textContent = draft ? "unsaved changes" : "";
  view.clip = await getJSON(`/api/clips/${clip.id}`);
  const canvas = $("viewer");
  canvas.width = view.clip.columns; canvas.height = view.clip.rows;
  $("frame-slider").max = view.clip.n_frames - 1;
  state.frame = Math.min(state.frame, view.clip.n_frames - 1);
  showLayout(view.clip);
  drawPhaseBands(null);
  renderRoiList();
  drawTimeline();
  $("remove-clip").hidden = position === 0;
  await showFrame(state.frame);
  if (state.map) await loadMap(state.map);
  document.dispatchEvent(new Event("ceuskit:clip-opened"));
}

function label(position) {
  return position === 0 ? "clip 1" : `clip ${position + 1}`;
}

// The examination's timeline: one block per clip where it lies in time after the injection, the gaps between
// them left empty (and labelled), the phase boundaries marked; a click opens that clip.
export function drawTimeline() {
  const box = $("timeline"), note = $("timeline-note");
  box.replaceChildren();
  const lesion = view.lesion, timeline = lesion && lesion.timeline;
  if (!timeline || !timeline.starts_s) { note.textContent = timeline && timeline.error ? timeline.error : ""; return; }
  const clips = timeline.starts_s.map((start, k) => ({position: k, from: clipStart(k), to: clipStart(k) + timeline.durations_s[k]}));
  const first = Math.min(...clips.map((c) => c.from)), last = Math.max(...clips.map((c) => c.to));
  const span = Math.max(1e-6, last - first), at = (t) => (100 * (t - first)) / span;
  for (const [name, t] of [["arterial end", PHASES.arterial_end_s], ["late phase", PHASES.portal_end_s]]) {
    if (t <= first || t >= last) continue;
    box.append(el("div", {class: "phase-mark", title: `${name}: ${t} s after injection`, style: {left: `${at(t)}%`}}));
  }
  const ordered = [...clips].sort((a, b) => a.from - b.from);
  ordered.slice(1).forEach((clip, i) => {
    const before = ordered[i];
    box.append(el("div", {class: "gap", title: `no recording from ${before.to.toFixed(1)} to ${clip.from.toFixed(1)} s after injection`,
                          style: {left: `${at(before.to)}%`, width: `${at(clip.from) - at(before.to)}%`}},
                  `gap ${(clip.from - before.to).toFixed(0)} s`));
  });
  for (const clip of clips) {
    box.append(el("button", {type: "button", class: `segment${clip.position === view.position ? " current" : ""}`,
                             "data-position": clip.position,
                             title: `${label(clip.position)}: ${clip.from.toFixed(1)}–${clip.to.toFixed(1)} s after injection`,
                             style: {left: `${at(clip.from)}%`, width: `${Math.max(1.5, at(clip.to) - at(clip.from))}%`},
                             onclick: () => openClip(clip.position).catch((error) => status(error.message))},
                  label(clip.position)));
  }
  note.textContent = timeline.error ? `clips shown one after the other: ${timeline.error}` :
    `${clips.length} clip${clips.length === 1 ? "" : "s"}, ${first.toFixed(0)}–${last.toFixed(0)} s after injection`;
}

// Reload the open lesion (after a sweep was added or removed) and show clip `position`.
export async function reloadLesion(position) {
  view.lesion = await getJSON(`/api/lesions/${view.lesion.id}`);
  await openClip(position);
}
