// The blinded reader's page, keyboard first: a clip, one key per label, a "contrast arrives here" marker,
// progress n/N. Each read is final once submitted. The page gets only what the player needs: no patient,
// no Ki-67, no software result, no other reader's read.
import {sendJSON, getJSON, signOut, whoAmI} from "./api.js";
import {Player} from "./player.js";
import {$, el, status, typing} from "./util.js";

const KEYS = {q: ["arterial", "hyper"], w: ["arterial", "iso"], e: ["arterial", "hypo"],
              a: ["washout", "early"], s: ["washout", "late"], d: ["washout", "none"],
              z: ["late", "hyper"], x: ["late", "iso"], c: ["late", "hypo"]};

const page = {sessions: [], session: null, item: null, read: null, busy: false, player: null};

function show(section) {
  for (const name of ["choose", "finished", "reading"]) $(name).hidden = name !== section;
}

function freshRead() { return {arterial: null, washout: null, late: null, onset: undefined}; }

async function listSessions() {
  page.session = null; page.item = null;
  page.sessions = (await getJSON("/api/reading-sessions")).filter((s) => s.status === "open");
  $("session-name").textContent = ""; $("progress").textContent = "";
  $("session-list").replaceChildren(...page.sessions.map((session, i) => {
    const mine = session.progress[0] || {done: 0, total: 0};
    return el("li", {}, el("button", {class: "session", "data-index": i, onclick: () => openSession(session)},
                           el("kbd", {}, i + 1), ` ${session.name} `, el("span", {class: "muted"}, `${mine.done}/${mine.total} read`)));
  }));
  if (!page.sessions.length) $("session-list").append(el("li", {class: "muted"}, "No open reading session for you."));
  show("choose");
  if (page.sessions.length === 1 && page.sessions[0].progress[0] && page.sessions[0].progress[0].done < page.sessions[0].progress[0].total) {
    await openSession(page.sessions[0]);
  }
}

async function openSession(session) {
  page.session = session;
  $("session-name").textContent = session.name;
  await nextItem();
}

async function nextItem() {
  const item = await getJSON(`/api/reading-sessions/${page.session.id}/next`);
  if (item.done) {
    page.item = null;
    $("progress").textContent = `${item.total}/${item.total}`;
    $("finished-title").textContent = `${item.total === 1 ? "The lesion" : `All ${item.total} lesions`} of “${page.session.name}” read`;
    show("finished");
    $("back").focus();
    return;
  }
  page.item = item; page.read = freshRead();
  $("progress").textContent = `${item.position}/${item.total}`;
  $("read-error").textContent = "";
  renderChoices();
  show("reading");
  await page.player.load(item);
  $("player").focus();
}

function onFrame(index) {
  const t = page.item.times_s[index];
  $("time-label").textContent = `frame ${index + 1}/${page.item.n_frames} · ${t.toFixed(1)} s after injection`;
}

function choose(group, value) {
  if (!page.item) return;
  page.read[group] = value;
  renderChoices();
}

function markOnset(here) {
  if (!page.item) return;
  page.read.onset = here ? page.player.frame : null;
  renderChoices();
}

function renderChoices() {
  for (const box of document.querySelectorAll(".choices[data-group]")) {
    const group = box.dataset.group;
    for (const button of box.querySelectorAll("button")) {
      const value = group === "onset" ? (page.read.onset === undefined ? null : (page.read.onset === null ? "none" : "here")) : page.read[group];
      const chosen = button.dataset.value === value;
      button.classList.toggle("active", chosen);
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    }
  }
  const mark = $("onset-mark");
  if (page.read.onset === undefined) $("onset-label").textContent = "not marked";
  else if (page.read.onset === null) $("onset-label").textContent = "not visible";
  else {
    const k = page.read.onset;
    $("onset-label").textContent = `${page.item.times_s[k].toFixed(1)} s after injection (frame ${k + 1})`;
  }
  mark.hidden = page.read.onset === undefined || page.read.onset === null;
  if (!mark.hidden) mark.style.left = `${(100 * page.read.onset) / Math.max(1, page.item.n_frames - 1)}%`;
}

async function submit() {
  if (!page.item || page.busy) return;
  const missing = ["arterial", "washout", "late"].filter((g) => !page.read[g]);
  if (page.read.onset === undefined) missing.push("contrast arrival (M, or N if not visible)");
  if (missing.length) { $("read-error").textContent = `Still to choose: ${missing.join(", ")}.`; return; }
  const washout = page.read.washout;
  const body = {item: page.item.item, arterial: page.read.arterial, late: page.read.late,
                washout: washout === "none" ? "no" : "yes", washout_timing: washout,
                onset_s: page.read.onset === null ? null : page.item.times_s[page.read.onset]};
  page.busy = true;
  try {
    await sendJSON(`/api/reading-sessions/${page.session.id}/reads`, "POST", body);
    status("read saved");
  } catch (error) {
    if (error.status !== 409) { $("read-error").textContent = error.message; return; }
    status("this lesion was read already");
  } finally {
    page.busy = false;
  }
  page.player.stop();
  await nextItem();
}

function onKey(event) {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) { if (event.key === "Escape") $("help").close(); return; }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (key === "?") { event.preventDefault(); $("help").showModal(); return; }
  if (!$("choose").hidden && /^[1-9]$/.test(key)) {
    const session = page.sessions[Number(key) - 1];
    if (session) { event.preventDefault(); openSession(session); }
    return;
  }
  if (!$("finished").hidden && key === "b") { event.preventDefault(); listSessions(); return; }
  if ($("reading").hidden || !page.item) return;
  const step = event.shiftKey ? 10 : 1;
  const actions = {
    ArrowRight: () => page.player.show(page.player.frame + step), ArrowLeft: () => page.player.show(page.player.frame - step),
    Home: () => page.player.show(0), End: () => page.player.show(page.item.n_frames - 1), " ": () => page.player.togglePlay(),
    m: () => markOnset(true), n: () => markOnset(false), t: () => page.player.toggleTarget(), Enter: submit,
  };
  if (KEYS[key]) { event.preventDefault(); choose(...KEYS[key]); return; }
  if (actions[key]) { event.preventDefault(); actions[key](); }
}

async function init() {
  const user = await whoAmI();
  if (user.role === "admin") { window.location.replace("/"); return; }
  $("user-name").textContent = user.username;
  page.player = new Player($("player"), onFrame);
  page.read = freshRead();
  $("frame-slider").addEventListener("input", (e) => page.player.show(Number(e.target.value)));
  $("play").addEventListener("click", () => page.player.togglePlay());
  $("show-target").addEventListener("change", () => page.player.toggleTarget());
  for (const box of document.querySelectorAll(".choices[data-group]")) {
    for (const button of box.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        if (box.dataset.group === "onset") markOnset(button.dataset.value === "here");
        else choose(box.dataset.group, button.dataset.value);
        $("player").focus();  // keys go on working where they were meant: the page, not the button
      });
    }
  }
  $("submit").addEventListener("click", () => { $("player").focus(); submit(); });
  $("back").addEventListener("click", listSessions);
  $("logout").addEventListener("click", signOut);
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("help-close").addEventListener("click", () => $("help").close());
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => page.player.draw());
  await listSessions();
}

init().catch((error) => status(error.message));
