// Start New Build: upload the file (POST /api/v1/filedrop/ → PUT to the returned URL), then
// POST .../build/ with its file_id and go to the build page; or Run Trigger Now.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const open = document.getElementById("start-build-open");
  if (!open) return;
  const repo = Slipway.repoPath();
  const repoAPI = "/api/v1/repository/" + Slipway.encodePath(repo);
  const form = document.getElementById("start-build-form");
  const error = document.getElementById("start-build-error");
  const progress = document.getElementById("start-build-progress");
  let mode = "upload";

  function setMode(value) {
    mode = value;
    document.getElementById("upload-fields").hidden = value !== "upload";
    document.getElementById("trigger-fields").hidden = value !== "trigger";
    document.getElementById("mode-upload").parentElement.classList.toggle("current", value === "upload");
    document.getElementById("mode-trigger")?.parentElement.classList.toggle("current", value === "trigger");
    document.getElementById("start-build-submit").textContent = value === "upload" ? "Start Build" : "Run Trigger Now";
  }
  document.getElementById("mode-upload").addEventListener("click", () => setMode("upload"));
  document.getElementById("mode-trigger")?.addEventListener("click", async () => {
    setMode("trigger");
    const select = document.getElementById("run-trigger-select");
    select.textContent = "";
    const result = await Slipway.api("GET", `${repoAPI}/trigger/`);
    const triggers = result.ok ? (result.data.triggers || []).filter((t) => t.is_active !== false) : [];
    for (const t of triggers) {
      const option = document.createElement("option");
      option.value = t.id;
      option.textContent = `${t.service || "trigger"} ${t.config?.build_source || t.build_source || t.id}`;
      select.appendChild(option);
    }
    if (triggers.length === 0) Slipway.showError(error, result.ok ? "This repository has no active build triggers." : Slipway.errorText(result));
  });

  open.addEventListener("click", () => { setMode("upload"); progress.textContent = ""; Slipway.openDialog("start-build-dialog"); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    Slipway.showError(error, "");
    const submit = document.getElementById("start-build-submit");
    submit.disabled = true;
    try {
      if (mode === "upload") await startUpload(); else await runTrigger();
    } finally {
      submit.disabled = false;
    }
  });

  async function startUpload() {
    const file = document.getElementById("build-file").files[0];
    if (!file) { Slipway.showError(error, "Choose a Dockerfile or an archive to upload."); return; }
    let buildArgs, buildSecrets;
    try {
      buildArgs = Slipway.keyValueLines(document.getElementById("build-args").value, "build argument");
      buildSecrets = Slipway.keyValueLines(document.getElementById("build-secrets").value, "build secret");
    } catch (err) { Slipway.showError(error, err.message); return; }
    const tags = document.getElementById("build-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    progress.textContent = "Uploading…";
    const mimeType = file.type || (file.name.endsWith(".zip") ? "application/zip" : /\.(tar|tgz|gz)$/.test(file.name) ? "application/x-tar" : "text/plain");
    const drop = await Slipway.api("POST", "/api/v1/filedrop/", { mimeType });
    if (!drop.ok) { progress.textContent = ""; Slipway.showError(error, Slipway.errorText(drop)); return; }
    // The URL's upload key is the upload's credential; send it to our own origin only.
    const uploadPath = new URL(drop.data.url, window.location.origin).pathname;
    let put;
    try {
      put = await fetch(uploadPath, { method: "PUT", body: file, headers: { "Content-Type": mimeType }, credentials: "same-origin" });
    } catch (err) {
      progress.textContent = ""; Slipway.showError(error, "The upload failed."); return;
    }
    if (!put.ok) { progress.textContent = ""; Slipway.showError(error, `The upload failed (HTTP ${put.status}).`); return; }
    progress.textContent = "Starting the build…";
    const body = { file_id: drop.data.file_id };
    if (tags.length > 0) body.docker_tags = tags;
    const robot = document.getElementById("build-robot").value.trim();
    if (robot) body.pull_robot = robot;
    if (Object.keys(buildArgs).length > 0) body.build_args = buildArgs;
    if (Object.keys(buildSecrets).length > 0) body.build_secrets = buildSecrets;
    const platforms = Slipway.platformList(document.getElementById("build-platforms").value);
    if (platforms.length > 0) body.platforms = platforms;
    const build = await Slipway.api("POST", `${repoAPI}/build/`, body);
    if (!build.ok) { progress.textContent = ""; Slipway.showError(error, Slipway.errorText(build)); return; }
    window.location.href = `/repository/${Slipway.encodePath(repo)}/build/${encodeURIComponent(build.data.id)}`;
  }

  async function runTrigger() {
    const id = document.getElementById("run-trigger-select").value;
    const ref = document.getElementById("run-trigger-ref").value.trim();
    if (!id) { Slipway.showError(error, "Choose a trigger."); return; }
    if (!ref) { Slipway.showError(error, "Enter a commit SHA or a branch name."); return; }
    const body = /^[0-9a-f]{7,40}$/i.test(ref) ? { commit_sha: ref } : { branch_name: ref, refs: { kind: "branch", name: ref } };
    const result = await Slipway.api("POST", `${repoAPI}/trigger/${encodeURIComponent(id)}/start`, body);
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    window.location.href = `/repository/${Slipway.encodePath(repo)}/build/${encodeURIComponent(result.data.id)}`;
  }
});
