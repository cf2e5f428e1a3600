// The clip viewer: frames from the server, the canvas with regions and ROIs, the phase bands, playback.
import {api} from "./api.js";
import {PHASES, saveState, state, view} from "./state.js";
import {$, el} from "./util.js";

export const COLOURS = {lesion: "#ff8c1a", parenchyma: "#33b3ff"};

export function showLayout(clip) {
  // dual display (B-mode | CEUS side by side): say which half carries the contrast; the analysis reads that one
  const ceus = (clip.regions || []).find((r) => r.role === "ceus"), bmode = (clip.regions || []).find((r) => r.role === "bmode");
  const label = $("layout-label");
  label.hidden = !(clip.layout === "dual" && ceus && bmode);
  label.textContent = label.hidden ? "" : `dual display · CEUS ${ceus.box[0] < bmode.box[0] ? "left" : "right"}`;
}

// Seconds after injection of frame `index` of the clip on screen: the clip's start on the examination's time
// axis (timeline.starts_s, s after the earliest clip's first frame) plus the frame's own time.
export function timeAfterInjection(index) {
  const starts = view.lesion.timeline && view.lesion.timeline.starts_s;
  return (starts ? starts[view.position] || 0 : 0) + view.clip.frame_times_s[index] - (view.lesion.injection_time_s || 0);
}

async function frameImage(index) {
  if (view.frameCache.has(index)) return view.frameCache.get(index);
  const blob = await (await api(`/api/clips/${view.clip.id}/frames/${index}`)).blob();
  const image = await createImageBitmap(blob);
  if (view.frameCache.size > 120) view.frameCache.delete(view.frameCache.keys().next().value);
  view.frameCache.set(index, image);
  return image;
}

export function phaseName(t) {
  if (t < 0) return "before injection";
  if (t < PHASES.arterial_end_s) return "arterial";
  if (t < PHASES.portal_end_s) return "portal venous";
  return "late";
}

export async function showFrame(index) {
  if (!view.clip) return;
  index = Math.max(0, Math.min(view.clip.n_frames - 1, index));
  state.frame = index; saveState();
  $("frame-slider").value = index;
  const t = timeAfterInjection(index);
  const clips = (view.lesion.clips || []).length;
  $("time-label").textContent = (clips > 1 ? `clip ${view.position + 1}/${clips} · ` : "") +
    `frame ${index + 1}/${view.clip.n_frames} · ${t.toFixed(1)} s after injection · ${phaseName(t)}`;
  view.image = await frameImage(index);
  if (state.frame === index) draw();
}

export function drawPhaseBands(options) {
  if (options) Object.assign(PHASES, {arterial_end_s: options.arterial_end_s, portal_end_s: options.portal_end_s});
  const bands = $("phase-bands");
  bands.replaceChildren();
  if (!view.clip) return;
  const times = view.clip.frame_times_s.map((_, i) => timeAfterInjection(i));
  const first = times[0], last = times[times.length - 1], span = Math.max(1e-6, last - first);
  const edges = [[-Infinity, 0, "pre"], [0, PHASES.arterial_end_s, "arterial"],
                 [PHASES.arterial_end_s, PHASES.portal_end_s, "portal"], [PHASES.portal_end_s, Infinity, "late"]];
  for (const [start, end, name] of edges) {
    const a = Math.max(first, start), b = Math.min(last, end);
    if (b <= a) continue;
    bands.append(el("div", {class: `band ${name}`, title: name,
                            style: {left: `${(100 * (a - first)) / span}%`, width: `${(100 * (b - a)) / span}%`}}));
  }
}

export function pixelScale(canvas) {
  // image pixels per screen pixel: text and lines keep their on-screen size whatever the frame's size
  const width = canvas.getBoundingClientRect().width;
  return width ? canvas.width / width : 1;
}

export function strokeShape(ctx, roi) {
  ctx.beginPath();
  if (roi.shape === "ellipse") {
    ctx.ellipse(roi.center[0], roi.center[1], Math.max(0.5, roi.radii[0]), Math.max(0.5, roi.radii[1]), 0, 0, 2 * Math.PI);
  } else if (roi.shape === "rectangle" || roi.shape === "mask") {
    const [x0, y0, x1, y1] = roi.box; ctx.rect(x0, y0, x1 - x0, y1 - y0);
  } else if (roi.points && roi.points.length) {
    ctx.moveTo(roi.points[0][0], roi.points[0][1]);
    for (const [x, y] of roi.points.slice(1)) ctx.lineTo(x, y);
    if (!roi.open) ctx.closePath();
  }
  ctx.stroke();
}

export function drawRegions(ctx, regions, k) {
  for (const region of regions || []) {
    if (!region.role) continue;
    const [x0, y0, x1, y1] = region.box;
    ctx.strokeStyle = "rgba(255,255,255,0.35)"; ctx.setLineDash([4 * k, 4 * k]); ctx.lineWidth = k;
    ctx.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);
    ctx.setLineDash([]); ctx.fillStyle = "rgba(255,255,255,0.7)"; ctx.font = `${11 * k}px sans-serif`;
    ctx.fillText(region.role === "ceus" ? "CEUS" : "B-mode", x0 + 4 * k, y0 + 13 * k);
  }
}

function strokeRoi(ctx, roi, selected, k) {
  ctx.strokeStyle = COLOURS[roi.role] || "#fff";
  ctx.lineWidth = (selected ? 2.5 : 1.5) * k;
  if (roi.source === "proposed") ctx.setLineDash([5 * k, 3 * k]);  // proposed, not yet accepted
  strokeShape(ctx, roi);
  ctx.setLineDash([]);
  if (roi.name) {
    const [x, y] = roi.center || (roi.points && roi.points[0]) || (roi.box && roi.box.slice(0, 2)) || [0, 0];
    ctx.fillStyle = COLOURS[roi.role] || "#fff"; ctx.font = `${12 * k}px sans-serif`; ctx.fillText(roi.name, x + 3 * k, y - 3 * k);
  }
}

export function draw() {
  const canvas = $("viewer"), ctx = canvas.getContext("2d"), k = pixelScale(canvas);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (view.image) ctx.drawImage(view.image, 0, 0);
  if (view.overlay) { ctx.globalAlpha = state.opacity / 100; ctx.drawImage(view.overlay, 0, 0); ctx.globalAlpha = 1; }
  drawRegions(ctx, view.clip && view.clip.regions, k);
  view.rois.forEach((roi, i) => strokeRoi(ctx, roi, i === view.selected, k));
  if (view.drawing) strokeRoi(ctx, view.drawing, true, k);
}

export function stopPlaying() {
  if (view.playing) { clearInterval(view.playing); view.playing = null; $("play").textContent = "▶"; }
}

export function togglePlay() {
  if (view.playing) { stopPlaying(); return; }
  if (!view.clip) return;
  $("play").textContent = "⏸";
  view.playing = setInterval(() => {
    if (state.frame >= view.clip.n_frames - 1) { stopPlaying(); return; }
    showFrame(state.frame + 1);
  }, 100);
}
