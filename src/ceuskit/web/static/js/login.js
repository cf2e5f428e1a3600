// Sign in with a user name and password; the server sets an HttpOnly session cookie. Administrators go to
// the workstation, readers to their blinded reading.
import {$} from "./util.js";

const MESSAGES = {401: "Wrong user name or password.", 429: "Too many failed sign-ins for this user: wait, then try again."};

async function signIn(event) {
  event.preventDefault();
  const error = $("error");
  error.textContent = "";
  $("login").disabled = true;
  try {
    const response = await fetch("/api/session", {
      method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: $("username").value.trim(), password: $("password").value}),
    });
    if (!response.ok) {
      error.textContent = MESSAGES[response.status] || `Sign-in failed (${response.status}).`;
      $("password").value = "";
      $("password").focus();
      return;
    }
    const user = await response.json();
    window.location.replace(user.role === "admin" ? "/" : "/read");
  } finally {
    $("login").disabled = false;
  }
}

$("login-form").addEventListener("submit", signIn);
