// The administrator's side of reader studies: open a blinded reading session for some readers, follow
// their progress, reopen a read (audited), close a session.
import {getJSON, sendJSON} from "./api.js";
import {state} from "./state.js";
import {studyName} from "./studies.js";
import {$, el, plural, shorten, status} from "./util.js";

let shownStudy = null;

// The reading sessions of state.study (the selected lesion's study), named in the headers.
export async function loadReading() {
  const studyId = state.study;
  if (studyId === null) return;
  if (shownStudy !== studyId) $("rs-detail").replaceChildren();  // another study's session details go
  shownStudy = studyId;
  for (const id of ["reading-study", "reading-study-form"]) {
    $(id).textContent = shorten(studyName(studyId), 60);
    $(id).title = studyName(studyId);
  }
  const [readers, sessions] = await Promise.all([getJSON("/api/users?role=reader"),
                                                 getJSON(`/api/studies/${studyId}/reading-sessions`)]);
  if (state.study !== studyId) return;  // another study was chosen meanwhile: its own load draws it
  const box = $("rs-readers");
  box.querySelectorAll("label").forEach((node) => node.remove());
  for (const reader of readers.filter((r) => !r.disabled)) {
    box.append(el("label", {}, el("input", {type: "checkbox", value: reader.username}), ` ${reader.username}`));
  }
  if (!readers.length) {
    box.append(el("label", {class: "muted"}, "No reader yet: ", el("code", {}, "ceuskit user add NAME --role reader")));
  }
  const rows = sessions.length ? sessions.map(sessionRow)
    : [el("tr", {}, el("td", {colspan: 4, class: "muted"}, "No reading session in this study yet."))];
  $("rs-list").querySelector("tbody").replaceChildren(...rows);
}

// One reading session: its name, status, each reader's progress, and what can be done with it.
function sessionRow(session) {
  const progress = session.progress.map((p) => `${p.reader} ${p.done}/${p.total}`).join(" · ");
  const close = session.status === "open" ? el("button", {class: "rs-close", onclick: () => closeSession(session)}, "Close") : null;
  return el("tr", {"data-id": session.id},
            el("td", {}, session.name), el("td", {class: "rs-status"}, session.status),
            el("td", {class: "rs-progress"}, progress),
            el("td", {}, el("button", {class: "rs-detail-button", onclick: () => showDetail(session.id)}, "Details"),
               close ? [" ", close] : null));
}

async function openSession(event) {
  event.preventDefault();
  $("rs-error").textContent = "";
  const readers = [...$("rs-readers").querySelectorAll("input:checked")].map((node) => node.value);
  try {
    const opened = await sendJSON(`/api/studies/${state.study}/reading-sessions`, "POST", {name: $("rs-name").value.trim(), readers});
    status(`reading session opened: ${plural(opened.n_items, "lesion")} for ${readers.join(", ")}`);
    $("rs-name").value = "";
    await loadReading();
  } catch (error) {
    $("rs-error").textContent = error.message;
  }
}

async function closeSession(session) {
  if (!window.confirm(`Close "${session.name}"? Its readers can read no more.`)) return;
  try { await sendJSON(`/api/reading-sessions/${session.id}/close`, "POST", {}); await loadReading(); } catch (error) { status(error.message); }
}

async function showDetail(sessionId) {
  const detail = await getJSON(`/api/reading-sessions/${sessionId}`);
  const readers = detail.progress.map((p) => p.reader);
  const reopen = async (item, reader) => {
    if (!window.confirm(`Reopen this lesion for ${reader}? Their read is removed (the audit log keeps it).`)) return;
    try {
      await sendJSON(`/api/reading-sessions/${sessionId}/reopen`, "POST", {item, reader});
      await showDetail(sessionId); await loadReading();
    } catch (error) { status(error.message); }
  };
  const cell = (item, reader) => (item.read_by.includes(reader)
    ? el("td", {}, "read ", el("button", {class: "rs-reopen", "data-item": item.item, "data-reader": reader,
                                          title: `Remove this read so ${reader} reads the lesion again (audited)`,
                                          onclick: () => reopen(item.item, reader)}, "reopen"))
    : el("td", {class: "muted"}, "—"));
  const rows = detail.items.map((item) => el("tr", {}, el("td", {}, `${item.patient} · ${item.lesion}`),
                                             readers.map((reader) => cell(item, reader))));
  $("rs-detail").replaceChildren(
    el("h3", {}, detail.name),
    el("table", {class: "grid-table"},
       el("thead", {}, el("tr", {}, el("th", {}, "Lesion"), readers.map((reader) => el("th", {}, reader)))),
       el("tbody", {}, rows)));
}

export function setupReadingAdmin() {
  $("rs-form").addEventListener("submit", openSession);
}
