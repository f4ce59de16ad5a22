// Repository list: create (POST /api/v1/repository) and bulk delete with "type confirm"
// (DELETE /api/v1/repository/{ns}/{name} for each selected row).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const createForm = document.getElementById("create-repo-form");
  document.getElementById("create-repo-open").addEventListener("click", () => {
    Slipway.openDialog("create-repo-dialog");
    document.getElementById("new-repo-name").focus();
  });

  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const nameError = document.getElementById("new-repo-name-error");
    const error = document.getElementById("create-repo-error");
    Slipway.showError(nameError, "");
    Slipway.showError(error, "");
    const namespace = createForm.namespace.value;
    const name = createForm.name.value.trim();
    if (!namespace) { Slipway.showError(error, "You cannot create repositories in any namespace."); return; }
    if (!name) { Slipway.showError(nameError, "Enter a repository name."); return; }
    const body = { namespace, repository: name, visibility: createForm.visibility.value, description: createForm.description.value, repo_kind: "image" };
    const result = await Slipway.api("POST", "/api/v1/repository", body);
    if (!result.ok) {
      const message = Slipway.errorText(result);
      Slipway.showError(/name/i.test(message) ? nameError : error, message);
      return;
    }
    sessionStorage.setItem("slipway-toast", `Created repository ${namespace}/${name}`);
    window.location.href = "/repository/" + Slipway.encodePath(`${namespace}/${name}`);
  });

  const boxes = () => Array.from(document.querySelectorAll(".repo-select"));
  const selected = () => boxes().filter((b) => b.checked).map((b) => b.value);
  const deleteButton = document.getElementById("delete-selected");
  document.addEventListener("change", (e) => {
    if (e.target.classList.contains("repo-select")) deleteButton.disabled = selected().length === 0;
  });

  const confirmInput = document.getElementById("delete-repos-confirm");
  const confirmSubmit = document.getElementById("delete-repos-submit");
  deleteButton.addEventListener("click", () => {
    const names = selected();
    document.getElementById("delete-repos-count").textContent = names.length === 1 ? "1 repository" : `${names.length} repositories`;
    const list = document.getElementById("delete-repos-list");
    list.textContent = "";
    for (const n of names) { const li = document.createElement("li"); li.textContent = n; list.appendChild(li); }
    confirmInput.value = "";
    confirmSubmit.disabled = true;
    Slipway.openDialog("delete-repos-dialog");
    confirmInput.focus();
  });
  confirmInput.addEventListener("input", () => { confirmSubmit.disabled = confirmInput.value.trim() !== "confirm"; });

  document.getElementById("delete-repos-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (confirmInput.value.trim() !== "confirm") return;
    const error = document.getElementById("delete-repos-error");
    const failures = [];
    for (const name of selected()) {
      const result = await Slipway.api("DELETE", "/api/v1/repository/" + Slipway.encodePath(name));
      if (!result.ok) failures.push(`${name}: ${Slipway.errorText(result)}`);
    }
    if (failures.length > 0) { Slipway.showError(error, failures.join("\n")); return; }
    Slipway.reloadSoon("Deleted");
  });
});
