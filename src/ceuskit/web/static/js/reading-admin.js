// The administrator's side of reader studies: open a blinded reading session for some readers, follow
// their progress, reopen a read (audited), close a session.
import {getJSON, sendJSON} from "./api.js";
import {state} from "./state.js";
import {studyName} from "./studies.js";
import {$, el, escapeHtml, plural, shorten, status} from "./util.js";

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
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${escapeHtml(reader.username)}"> ${escapeHtml(reader.username)}`;
    box.appendChild(label);
  }
  if (!readers.length) box.insertAdjacentHTML("beforeend", '<label class="muted">No reader yet: <code>ceuskit user add NAME --role reader</code></label>');
  const body = $("rs-list").querySelector("tbody");
  body.innerHTML = "";
  for (const session of sessions) {
    const tr = document.createElement("tr");
    tr.dataset.id = session.id;
    const progress = session.progress.map((p) => `${escapeHtml(p.reader)} ${p.done}/${p.total}`).join(" · ");
    tr.innerHTML = `<td>${escapeHtml(session.name)}</td><td class="rs-status">${session.status}</td><td class="rs-progress">${progress}</td>` +
      `<td><button class="rs-detail-button">Details</button> ${session.status === "open" ? '<button class="rs-close">Close</button>' : ""}</td>`;
    tr.querySelector(".rs-detail-button").addEventListener("click", () => showDetail(session.id));
    const close = tr.querySelector(".rs-close");
    if (close) close.addEventListener("click", () => closeSession(session));
    body.appendChild(tr);
  }
  if (!sessions.length) body.append(el("tr", {}, el("td", {colspan: 4, class: "muted"}, "No reading session in this study yet.")));
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
  const rows = detail.items.map((item) => {
    const cells = readers.map((reader) => item.read_by.includes(reader)
      ? `<td>read <button class="rs-reopen" data-item="${item.item}" data-reader="${escapeHtml(reader)}" title="Remove this read so ${escapeHtml(reader)} reads the lesion again (audited)">reopen</button></td>`
      : "<td class=\"muted\">—</td>").join("");
    return `<tr><td>${escapeHtml(item.patient)} · ${escapeHtml(item.lesion)}</td>${cells}</tr>`;
  }).join("");
  $("rs-detail").innerHTML = `<h3>${escapeHtml(detail.name)}</h3><table class="grid-table"><thead><tr><th>Lesion</th>` +
    readers.map((r) => `<th>${escapeHtml(r)}</th>`).join("") + `</tr></thead><tbody>${rows}</tbody></table>`;
  $("rs-detail").querySelectorAll(".rs-reopen").forEach((button) => button.addEventListener("click", async () => {
    if (!window.confirm(`Reopen this lesion for ${button.dataset.reader}? Their read is removed (the audit log keeps it).`)) return;
    try {
      await sendJSON(`/api/reading-sessions/${sessionId}/reopen`, "POST", {item: Number(button.dataset.item), reader: button.dataset.reader});
      await showDetail(sessionId); await loadReading();
    } catch (error) { status(error.message); }
  }));
}

export function setupReadingAdmin() {
  $("rs-form").addEventListener("submit", openSession);
}
