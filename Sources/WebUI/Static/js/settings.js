// Repository settings: description, permissions, visibility, state and delete, each through
// its /api/v1/repository/{repo}/... endpoint; errors are shown next to the control.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const repo = Slipway.repoPath();
  const repoAPI = "/api/v1/repository/" + Slipway.encodePath(repo);
  const byId = (id) => document.getElementById(id);

  byId("description-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const result = await Slipway.api("PUT", repoAPI, { description: byId("description-input").value });
    if (!result.ok) { Slipway.showError(byId("description-error"), Slipway.errorText(result)); return; }
    Slipway.showError(byId("description-error"), "");
    Slipway.toast("Description saved");
  });

  const permissionURL = (kind, name) => `${repoAPI}/permissions/${kind === "team" ? "team" : "user"}/${encodeURIComponent(name)}`;
  document.addEventListener("change", async (e) => {
    if (!e.target.classList.contains("permission-role")) return;
    const row = e.target.closest("tr");
    const result = await Slipway.api("PUT", permissionURL(row.dataset.kind, row.dataset.name), { role: e.target.value });
    if (!result.ok) { Slipway.showError(byId("permission-error"), Slipway.errorText(result)); return; }
    Slipway.showError(byId("permission-error"), "");
    Slipway.toast(`Permission of ${row.dataset.name} set to ${e.target.value}`);
  });
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button.permission-delete");
    if (!button) return;
    const row = button.closest("tr");
    const result = await Slipway.api("DELETE", permissionURL(row.dataset.kind, row.dataset.name));
    if (!result.ok) { Slipway.showError(byId("permission-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Removed the permission of ${row.dataset.name}`);
  });
  byId("permission-add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const kind = byId("permission-kind").value;
    const name = byId("permission-name").value.trim();
    if (!name) { Slipway.showError(byId("permission-error"), "Enter a user, robot or team name."); return; }
    const result = await Slipway.api("PUT", permissionURL(kind, name), { role: byId("permission-role").value });
    if (!result.ok) { Slipway.showError(byId("permission-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Granted ${byId("permission-role").value} to ${name}`);
  });

  for (const id of ["make-public", "make-private"]) {
    byId(id)?.addEventListener("click", async (e) => {
      const visibility = e.target.dataset.visibility;
      const result = await Slipway.api("POST", `${repoAPI}/changevisibility`, { visibility });
      if (!result.ok) { Slipway.showError(byId("visibility-error"), Slipway.errorText(result)); return; }
      Slipway.reloadSoon(`The repository is now ${visibility}`);
    });
  }

  byId("state-save").addEventListener("click", async () => {
    const result = await Slipway.api("PUT", `${repoAPI}/changestate`, { state: byId("state-select").value });
    if (!result.ok) { Slipway.showError(byId("state-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon("Repository state saved");
  });

  const confirmInput = byId("delete-repo-confirm");
  byId("delete-repo-open").addEventListener("click", () => { confirmInput.value = ""; byId("delete-repo-submit").disabled = true; Slipway.openDialog("delete-repo-dialog"); confirmInput.focus(); });
  confirmInput.addEventListener("input", () => { byId("delete-repo-submit").disabled = confirmInput.value.trim() !== "confirm"; });
  byId("delete-repo-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (confirmInput.value.trim() !== "confirm") return;
    const result = await Slipway.api("DELETE", repoAPI);
    if (!result.ok) { Slipway.showError(byId("delete-repo-error"), Slipway.errorText(result)); return; }
    sessionStorage.setItem("slipway-toast", `Deleted ${repo}`);
    window.location.href = "/repository/";
  });
});
