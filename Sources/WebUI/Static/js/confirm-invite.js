// The team invitation page: Accept (PUT) or Decline (DELETE) /api/v1/teaminvite/{code}, then
// show the outcome the server rendered into the page (no HTML is built from API data here).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("confirm-invite");
  if (!section) return;
  const code = section.dataset.code || "";
  const actions = document.getElementById("invite-actions");
  const error = document.getElementById("invite-error");
  const buttons = actions.querySelectorAll("button");

  async function answer(method, shown) {
    Slipway.showError(error, "");
    buttons.forEach((b) => { b.disabled = true; });
    const result = await Slipway.api(method, `/api/v1/teaminvite/${encodeURIComponent(code)}`);
    if (!result.ok) {
      buttons.forEach((b) => { b.disabled = false; });
      Slipway.showError(error, result.status === 404 ? "This invitation is no longer valid." : Slipway.errorText(result));
      return;
    }
    actions.hidden = true;
    document.getElementById("invite-summary").hidden = true;
    document.getElementById(shown).hidden = false;
  }

  document.getElementById("invite-accept").addEventListener("click", () => answer("PUT", "invite-accepted"));
  document.getElementById("invite-decline").addEventListener("click", () => answer("DELETE", "invite-declined"));
});
