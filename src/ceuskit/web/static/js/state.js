// View state of the administrator's workstation: what is open (kept in localStorage: no secrets, no
// patient data — ids, frame and tab only) and what is on screen (memory only).
const STATE_KEY = "ceuskit.state";

export const state = Object.assign({study: null, lesion: null, clip: 0, frame: 0, tab: "lesion", opacity: 60, map: ""},
                                   JSON.parse(localStorage.getItem(STATE_KEY) || "{}"));

// view.clip: the clip on screen (its facts); view.position: its place in the lesion's examination (0: first)
export const view = {lesion: null, clip: null, position: 0, rois: [], referenceFrame: null, selected: -1, tool: "ellipse",
                     drawing: null, image: null, overlay: null, playing: null, frameCache: new Map(), analysis: null};

export const PHASES = {arterial_end_s: 45, portal_end_s: 120};  // DESIGN defaults; the analysis' own options win

export function saveState() {
  localStorage.setItem(STATE_KEY, JSON.stringify({study: state.study, lesion: state.lesion, clip: state.clip,
                                                  frame: state.frame, tab: state.tab, opacity: state.opacity,
                                                  map: state.map}));
}

// Where the unsaved ROIs of the clip on screen wait in this browser (the first clip keeps the older key).
export function draftKey(position = view.position) {
  return `ceuskit.draft.${view.lesion.id}` + (position ? `.${position}` : "");
}
