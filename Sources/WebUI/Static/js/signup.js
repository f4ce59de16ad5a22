// Self sign-up: POST /api/v1/user/ creates the account and signs it in.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signup-form");
  const error = document.getElementById("signup-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.username.value.trim();
    const email = form.email.value.trim();
    const password = form.password.value;
    if (!username || !password) { Slipway.showError(error, "Enter a username and a password."); return; }
    if (password !== form.confirm.value) { Slipway.showError(error, "The passwords do not match."); return; }
    const button = document.getElementById("signup-submit");
    button.disabled = true;
    const result = await Slipway.api("POST", "/api/v1/user/", { username, password, email: email || null });
    button.disabled = false;
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    window.location.href = result.data && result.data.awaiting_verification ? "/repository/?welcome=verify" : "/repository/";
  });
});
