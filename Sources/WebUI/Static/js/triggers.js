// Build triggers panel on the Builds tab (admins): list, the custom-git creation wizard
// (repository URL → tagging → Dockerfile → context → robot → review → activation screen with
// the SSH key and webhook URL), View Credentials (with the git server's trusted ssh host key),
// enable/disable, Run Trigger Now, delete.
// Everything goes through /api/v1/repository/{repo}/trigger/.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const panel = document.getElementById("triggers-panel");
  if (!panel || panel.dataset.canAdmin !== "true") return;
  const byId = (id) => document.getElementById(id);
  const repo = Slipway.repoPath();
  const triggerAPI = `/api/v1/repository/${Slipway.encodePath(repo)}/trigger/`;
  let triggers = [];

  async function load() {
    const result = await Slipway.api("GET", triggerAPI);
    if (!result.ok) return false;   // the trigger API is unavailable: keep the panel hidden
    triggers = result.data.triggers || [];
    render();
    panel.hidden = false;
    return true;
  }

  const credential = (t, name) => ((t.config || {}).credentials || []).find((c) => c.name === name)?.value || "";

  function render() {
    const list = byId("triggers-list");
    if (triggers.length === 0) { Slipway.showEmpty(list, "No build triggers."); return; }
    const body = Slipway.tableIn(list, "triggers-table", ["Trigger", "Source", "State", ""]);
    for (const t of triggers) {
      const tr = document.createElement("tr");
      tr.dataset.trigger = t.id;
      const name = document.createElement("td");
      name.textContent = t.service === "custom-git" ? "Custom Git Repository Push" : t.service;
      const source = document.createElement("td");
      source.className = "small";
      source.textContent = t.build_source || "(setup not finished)";
      const state = document.createElement("td");
      state.textContent = !t.is_active ? "inactive" : t.enabled ? "enabled" : `disabled${t.disabled_reason ? " (" + t.disabled_reason.replace(/_/g, " ") + ")" : ""}`;
      const buttons = [];
      if (t.is_active) {
        buttons.push(["View Credentials", () => showCredentials(t)]);
        if (t.enabled) buttons.push(["Run Trigger Now", () => runNow(t)]);
        buttons.push([t.enabled ? "Disable Trigger" : "Enable Trigger", () => toggle(t)]);
      }
      buttons.push(["Delete Trigger", () => remove(t)]);
      tr.append(name, source, state, Slipway.actionCell(buttons, "trigger-action"));
      body.appendChild(tr);
    }
  }

  // The git server's ssh host key the trigger's clones trust (null for non-ssh sources).
  function hostKeySummary(keys) {
    if (!keys) return "";
    if (keys.status !== "recorded") return `${keys.endpoint}: ${keys.message || "no host key recorded yet"}`;
    return `${keys.endpoint}: ${keys.keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ")} (${keys.source.replace(/_/g, " ")})`;
  }

  function showCredentials(t) {
    byId("trigger-key").value = credential(t, "SSH Public Key");
    byId("trigger-url").value = credential(t, "Webhook Endpoint URL");
    const keys = t.ssh_host_keys;
    byId("trigger-hostkey-field").hidden = !keys;
    byId("trigger-hostkey-fingerprints").textContent = hostKeySummary(keys);
    byId("trigger-hostkey").value = keys ? (keys.known_hosts || []).join("\n") : "";
    Slipway.openDialog("trigger-credentials-dialog");
  }

  function runNow(t) {
    const open = byId("start-build-open");
    if (!open) return;
    open.click();
    byId("mode-trigger").click();
    setTimeout(() => { byId("run-trigger-select").value = t.id; byId("run-trigger-ref").focus(); }, 300);
  }

  async function toggle(t) {
    const result = await Slipway.api("PUT", triggerAPI + encodeURIComponent(t.id), { enabled: !t.enabled });
    if (!result.ok) { Slipway.showError(byId("triggers-error"), Slipway.errorText(result)); return; }
    Slipway.toast(`Trigger ${result.data.enabled ? "enabled" : "disabled"}`);
    await load();
  }

  async function remove(t) {
    if (!window.confirm("Delete this build trigger? Pushes stop starting builds.")) return;
    const result = await Slipway.api("DELETE", triggerAPI + encodeURIComponent(t.id));
    if (!result.ok) { Slipway.showError(byId("triggers-error"), Slipway.errorText(result)); return; }
    Slipway.toast("Trigger deleted");
    await load();
  }

  // --- Creation wizard ---------------------------------------------------------------------
  let step = 1;
  let created = null;   // the inactive trigger made at the review step
  let activated = false;

  function config() {
    const c = {
      build_source: byId("trigger-source").value.trim(),
      default_tag_from_ref: byId("trigger-tag-ref").checked,
      latest_for_default_branch: byId("trigger-tag-latest").checked,
      dockerfile_path: byId("trigger-dockerfile").value.trim() || "/Dockerfile",
      context: byId("trigger-context").value.trim() || "/",
    };
    const templates = byId("trigger-templates").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (templates.length) c.tag_templates = templates;
    const branch = byId("trigger-default-branch").value.trim();
    if (branch) c.default_branch = branch;
    const regex = byId("trigger-regex").value.trim();
    if (regex) c.branchtag_regex = regex;
    // Throws on a line that is not name=value (the wizard shows the message).
    const args = Slipway.keyValueLines(byId("trigger-build-args").value, "build argument");
    if (Object.keys(args).length) c.build_args = args;
    const secrets = Slipway.keyValueLines(byId("trigger-build-secrets").value, "build secret");
    if (Object.keys(secrets).length) c.build_secrets = secrets;
    const platforms = Slipway.platformList(byId("trigger-platforms").value);
    if (platforms.length) c.platforms = platforms;
    return c;
  }

  function show(n) {
    step = n;
    document.querySelectorAll("#trigger-wizard .trigger-step").forEach((s) => { s.hidden = Number(s.dataset.step) !== n; });
    document.querySelectorAll("#trigger-steps li").forEach((li) => li.classList.toggle("current", Number(li.dataset.step) === n));
    byId("trigger-back").hidden = n === 1 || n === 7;
    byId("trigger-cancel").textContent = n === 7 ? `Return to ${repo}` : "Cancel";
    byId("trigger-next").hidden = n === 7;
    byId("trigger-next").textContent = n === 6 ? "Finish" : "Next";
    Slipway.showError(byId("trigger-wizard-error"), "");
  }

  byId("trigger-create-open")?.addEventListener("click", () => {
    created = null;
    activated = false;
    byId("trigger-wizard-form").reset();
    show(1);
    Slipway.openDialog("trigger-wizard");
    byId("trigger-source").focus();
  });
  byId("trigger-back").addEventListener("click", () => show(step - 1));

  async function closeWizard() {
    byId("trigger-wizard").close();
    // A trigger made for the review but never activated is removed again.
    if (created && !activated) await Slipway.api("DELETE", triggerAPI + encodeURIComponent(created.id));
    created = null;
    await load();
  }
  byId("trigger-cancel").addEventListener("click", closeWizard);
  byId("trigger-wizard").addEventListener("cancel", (e) => { e.preventDefault(); closeWizard(); });

  async function analyze() {
    return Slipway.api("POST", `${triggerAPI}${encodeURIComponent(created.id)}/analyze`, { config: config() });
  }

  byId("trigger-wizard-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = byId("trigger-wizard-error");
    try { config(); } catch (err) { Slipway.showError(error, err.message); return; }
    if (step === 1) {
      if (!byId("trigger-source").value.trim()) { Slipway.showError(error, "Enter the git repository URL."); return; }
      if (!created) {
        // As in Quay, the trigger exists (inactive) from here; Cancel deletes it again.
        const result = await Slipway.api("POST", triggerAPI, { service: "custom-git" });
        if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
        created = result.data;
      }
    }
    if (step === 4) {
      // The robots that could pull a private base image, as suggestions for the next step.
      const analysis = await analyze();
      if (analysis.ok && analysis.data.status === "error") { Slipway.showError(error, analysis.data.message); return; }
      const options = byId("trigger-robot-options");
      options.textContent = "";
      for (const r of (analysis.ok && analysis.data.robots) || []) {
        const o = document.createElement("option");
        o.value = r.name;
        options.appendChild(o);
      }
    }
    if (step < 5) { show(step + 1); return; }
    if (step === 5) {
      const analysis = await analyze();
      if (analysis.ok && analysis.data.status === "error") { Slipway.showError(error, analysis.data.message); return; }
      const review = byId("trigger-review");
      review.textContent = "";
      const c = config();
      const rows = [["Repository", c.build_source], ["Tag with branch/tag name", c.default_tag_from_ref ? "yes" : "no"],
        ["Tag latest on default branch", c.latest_for_default_branch ? "yes" : "no"], ["Tag templates", (c.tag_templates || []).join(", ") || "none"],
        ["Dockerfile", c.dockerfile_path], ["Context", c.context], ["Pull robot", byId("trigger-robot").value.trim() || "none"],
        ["Build arguments", Object.entries(c.build_args || {}).map(([k, v]) => `${k}=${v}`).join(" ") || "none"],
        ["Build secrets", Object.keys(c.build_secrets || {}).join(", ") || "none"],
        ["Platforms", (c.platforms || []).join(", ") || "the worker's own"]];
      if (analysis.ok && analysis.data.ssh_host_keys) rows.push(["Git server SSH host key (trusted from now on)", hostKeySummary(analysis.data.ssh_host_keys)]);
      for (const [k, v] of rows) {
        const dt = document.createElement("dt"); dt.textContent = k;
        const dd = document.createElement("dd"); dd.textContent = v;
        review.append(dt, dd);
      }
      byId("trigger-analysis").textContent = analysis.ok ? (analysis.data.message || "") : "";
      show(6);
      return;
    }
    if (step === 6) {
      const body = { config: config() };
      const robot = byId("trigger-robot").value.trim();
      if (robot) body.pull_robot = robot;
      const result = await Slipway.api("POST", `${triggerAPI}${encodeURIComponent(created.id)}/activate`, body);
      if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
      activated = true;
      byId("trigger-new-key").value = credential(result.data, "SSH Public Key");
      byId("trigger-new-url").value = credential(result.data, "Webhook Endpoint URL");
      show(7);
    }
  });

  await load();
});
