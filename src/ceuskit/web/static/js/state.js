// View state of the administrator's workstation: what is open (kept in localStorage: no secrets, no
// patient data — ids, frame and tab only) and what is on screen (memory only).
const STATE_KEY = "ceuskit.state";

export const state = Object.assign({study: null, lesion: null, frame: 0, tab: "lesion", opacity: 60, map: ""},
                                   JSON.parse(localStorage.getItem(STATE_KEY) || "{}"));

export const view = {lesion: null, clip: null, rois: [], referenceFrame: null, selected: -1, tool: "ellipse",
                     drawing: null, image: null, overlay: null, playing: null, frameCache: new Map(), analysis: null};

export const PHASES = {arterial_end_s: 45, portal_end_s: 120};  // DESIGN defaults; the analysis' own options win

export function saveState() {
  localStorage.setItem(STATE_KEY, JSON.stringify({study: state.study, lesion: state.lesion, frame: state.frame,
                                                  tab: state.tab, opacity: state.opacity, map: state.map}));
}
