// Sign in with a user name and password; the server sets an HttpOnly session cookie. Administrators go to
// the workstation, readers to their blinded reading. Too many attempts: the server says how long to wait
// (Retry-After), and the button waits that long, counting down.
import {$} from "./util.js";

const WRONG = "Wrong user name or password.";
let countdown = null;

// "too many failed sign-ins …; try again in 30 s" → "Too many failed sign-ins …. Try again in 30 s."
function sentence(detail) {
  const [why, when] = String(detail).split("; ");
  const text = why.charAt(0).toUpperCase() + why.slice(1);
  return when ? `${text}. ${when.charAt(0).toUpperCase()}${when.slice(1)}.` : `${text}.`;
}

function waitBeforeRetry(message, seconds) {
  const button = $("login");
  const until = Date.now() + seconds * 1000;
  clearInterval(countdown);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(countdown);
      button.disabled = false; button.textContent = "Sign in";
      return;
    }
    button.disabled = true;
    button.textContent = `Sign in (wait ${left} s)`;
  };
  $("error").textContent = message;
  tick();
  countdown = setInterval(tick, 1000);
}

async function signIn(event) {
  event.preventDefault();
  const error = $("error");
  error.textContent = "";
  $("login").disabled = true;
  let waiting = false;
  try {
    const response = await fetch("/api/session", {
      method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: $("username").value.trim(), password: $("password").value}),
    });
    if (!response.ok) {
      let detail = null;
      try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
      const retry = Number(response.headers.get("Retry-After"));
      if ((response.status === 429 || response.status === 503) && retry > 0 && typeof detail === "string") {
        waiting = true;
        waitBeforeRetry(sentence(detail), retry);
      } else {
        error.textContent = response.status === 401 ? WRONG : `Sign-in failed (${response.status}).`;
      }
      $("password").value = "";
      $("password").focus();
      return;
    }
    const user = await response.json();
    window.location.replace(user.role === "admin" ? "/" : "/read");
  } finally {
    if (!waiting) $("login").disabled = false;
  }
}

$("login-form").addEventListener("submit", signIn);
