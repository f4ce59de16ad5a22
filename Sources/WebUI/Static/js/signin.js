// The sign-in form: POST /api/v1/signin sets the session cookie, then we go where we came from.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) { Slipway.showError(error, "Enter your username and password."); return; }
    const button = document.getElementById("signin-submit");
    button.disabled = true;
    const result = await Slipway.api("POST", "/api/v1/signin", { username, password });
    button.disabled = false;
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    const target = form.dataset.redirect || "/repository/";
    window.location.href = target.startsWith("/") && !target.startsWith("//") ? target : "/repository/";
  });
});
