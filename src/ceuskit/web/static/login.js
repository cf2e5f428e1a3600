"use strict";
// Checks the token once against the server, keeps it in this browser, goes to the workstation.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/api/login", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token}),
  });
  if (response.ok) {
    localStorage.setItem("ceuskit.token", token);
    window.location.replace("/");
  } else {
    error.textContent = "That token is not valid.";
  }
});
