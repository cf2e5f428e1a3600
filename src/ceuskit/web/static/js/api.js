// The server's REST API: the session cookie goes with every request (it is HttpOnly: this page never sees
// it); state changes carry the CSRF token this page load was given. Nothing is kept in localStorage.

let csrfToken = null;
let who = null;

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  const headers = Object.assign({}, options.headers || {});
  if (!SAFE.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, Object.assign({}, options, {headers, credentials: "same-origin"}));
  if (response.status === 401) { window.location.replace("/login"); throw new Error("signed out"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return response;
}

export const getJSON = async (path) => (await api(path)).json();

export const sendJSON = async (path, method, body) =>
  (await api(path, {method, headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})).json();

// Who is signed in (and this page's CSRF token); sends an anonymous visitor to the sign-in page.
export async function whoAmI() {
  const response = await fetch("/api/session", {credentials: "same-origin"});
  if (!response.ok) { window.location.replace("/login"); throw new Error("signed out"); }
  who = await response.json();
  csrfToken = who.csrf_token;
  return who;
}

export function currentUser() { return who; }

export async function signOut() {
  try { await api("/api/session", {method: "DELETE"}); } finally { window.location.replace("/login"); }
}

export async function pollJob(job, onProgress) {
  for (;;) {
    const current = await getJSON(`/api/jobs/${job.id}`);
    onProgress(current.progress);
    if (current.status === "done") return current.result;
    if (current.status === "failed") throw new Error(current.error);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
