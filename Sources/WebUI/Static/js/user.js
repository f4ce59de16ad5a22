// Account settings and app tokens, through PUT/DELETE /api/v1/user/ and /api/v1/user/apptoken.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const byId = (id) => document.getElementById(id);
  const user = byId("account").dataset.user;

  async function save(body, errorId, message) {
    const result = await Slipway.api("PUT", "/api/v1/user/", body);
    if (!result.ok) { Slipway.showError(byId(errorId), Slipway.errorText(result)); return false; }
    Slipway.showError(byId(errorId), "");
    Slipway.toast(message);
    return true;
  }

  byId("email-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const email = byId("user-email").value.trim();
    if (!email) { Slipway.showError(byId("email-error"), "Enter an e-mail address."); return; }
    save({ email }, "email-error", "E-mail address changed");
  });
  byId("password-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const password = byId("new-password").value;
    if (password !== byId("confirm-password").value) { Slipway.showError(byId("password-error"), "The passwords do not match."); return; }
    if (await save({ password }, "password-error", "Password changed")) { byId("new-password").value = ""; byId("confirm-password").value = ""; }
  });
  byId("time-machine-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    save({ tag_expiration_s: Number(byId("user-time-machine").value) }, "time-machine-error", "Time machine setting saved");
  });

  const confirmInput = byId("delete-account-confirm");
  // Single sign-on: unlink a provider (Quay's detachexternal); refusals show in the page's toast.
  document.querySelectorAll(".unlink-login").forEach((button) => button.addEventListener("click", async () => {
    const provider = button.dataset.provider;
    if (!window.confirm(`Unlink ${provider} from your account? You will no longer sign in with it.`)) return;
    const result = await Slipway.api("POST", `/api/v1/detachexternal/${encodeURIComponent(provider)}`);
    if (!result.ok) { Slipway.toast(Slipway.errorText(result), "error"); return; }
    Slipway.reloadSoon(`Unlinked ${provider}`);
  }));
  byId("delete-account-open")?.addEventListener("click", () => { confirmInput.value = ""; byId("delete-account-submit").disabled = true; Slipway.openDialog("delete-account-dialog"); });
  confirmInput?.addEventListener("input", () => { byId("delete-account-submit").disabled = confirmInput.value.trim() !== user; });
  byId("delete-account-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (confirmInput.value.trim() !== user) return;
    const result = await Slipway.api("DELETE", "/api/v1/user/");
    if (!result.ok) { Slipway.showError(byId("delete-account-error"), Slipway.errorText(result)); return; }
    await Slipway.api("POST", "/api/v1/signout");
    window.location.href = "/signin";
  });

  // --- App tokens ------------------------------------------------------------------------------
  byId("create-token-open")?.addEventListener("click", () => {
    byId("token-create-fields").hidden = false;
    byId("token-created").hidden = true;
    byId("create-token-submit").hidden = false;
    byId("new-token-title").value = "";
    Slipway.openDialog("create-token-dialog");
  });
  byId("create-token-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const title = byId("new-token-title").value.trim();
    if (!title) { Slipway.showError(byId("create-token-error"), "Enter a title."); return; }
    const result = await Slipway.api("POST", "/api/v1/user/apptoken", { title });
    if (!result.ok) { Slipway.showError(byId("create-token-error"), Slipway.errorText(result)); return; }
    byId("token-create-fields").hidden = true;
    byId("create-token-submit").hidden = true;
    byId("token-created").hidden = false;
    byId("new-token-value").value = result.data.token.token_code || "";
  });
  byId("create-token-dialog")?.addEventListener("close", () => { if (!byId("token-created").hidden) Slipway.reloadSoon("App token created"); });
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button.token-revoke");
    if (!button) return;
    const uuid = button.closest("tr").dataset.token;
    if (!window.confirm("Revoke this token? Clients using it stop working.")) return;
    const result = await Slipway.api("DELETE", `/api/v1/user/apptoken/${encodeURIComponent(uuid)}`);
    if (!result.ok) { Slipway.showError(byId("tokens-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon("Token revoked");
  });
});
