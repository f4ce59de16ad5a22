// Tag history: Revert = POST /api/v1/repository/{repo}/tag/{tag}/restore {manifest_digest}.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const repoAPI = "/api/v1/repository/" + Slipway.encodePath(Slipway.repoPath());
  let target = null;
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button.revert");
    if (!button) return;
    const row = button.closest("[data-tag]");
    target = { tag: row.dataset.tag, digest: row.dataset.digest };
    document.getElementById("revert-tag").textContent = target.tag;
    document.getElementById("revert-digest").textContent = target.digest;
    Slipway.openDialog("revert-dialog");
  });
  document.getElementById("revert-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const result = await Slipway.api("POST", `${repoAPI}/tag/${encodeURIComponent(target.tag)}/restore`, { manifest_digest: target.digest });
    if (!result.ok) { Slipway.showError(document.getElementById("revert-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Reverted ${target.tag} to ${target.digest.slice(0, 19)}`);
  });
});
