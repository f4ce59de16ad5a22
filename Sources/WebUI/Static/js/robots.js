// Robot accounts panel (organization or user): create, credentials (fetched on click, never in
// the page), regenerate, Kubernetes Secret / podman / docker snippets, bulk repository
// permissions, add to team, delete; all through the robot API at #robots-panel[data-api].
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("robots-panel");
  if (!panel) return;
  const apiBase = panel.dataset.api;
  const owner = panel.dataset.owner;
  const host = panel.dataset.host;
  const byId = (id) => document.getElementById(id);
  let robot = null; // {name, short}

  byId("create-robot-open").addEventListener("click", () => { byId("new-robot-name").value = ""; Slipway.openDialog("create-robot-dialog"); byId("new-robot-name").focus(); });
  byId("create-robot-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const short = byId("new-robot-name").value.trim();
    if (!short) { Slipway.showError(byId("create-robot-error"), "Enter a name for the robot account."); return; }
    const result = await Slipway.api("PUT", `${apiBase}/${encodeURIComponent(short)}`, { description: byId("new-robot-description").value });
    if (!result.ok) { Slipway.showError(byId("create-robot-error"), `Error creating robot account: ${Slipway.errorText(result)}`); return; }
    Slipway.reloadSoon(`Successfully created robot account with robot name: ${owner}+${short}`);
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button");
    const row = button?.closest("tr[data-robot]");
    if (!row) return;
    robot = { name: row.dataset.robot, short: row.dataset.short };
    button.closest("details")?.removeAttribute("open");
    if (button.classList.contains("robot-credentials")) showCredentials();
    else if (button.classList.contains("robot-permissions")) showPermissions();
    else if (button.classList.contains("robot-federation")) showFederation();
    else if (button.classList.contains("robot-team")) showTeam();
    else if (button.classList.contains("robot-delete")) deleteRobot();
  });

  // --- Credentials ---------------------------------------------------------------------
  function fillCredentials(token) {
    byId("robot-username").value = robot.name;
    byId("robot-token").value = token;
    const auth = btoa(`${robot.name}:${token}`);
    const dockerConfig = JSON.stringify({ auths: { [host]: { auth, email: "" } } });
    const secretName = robot.name.replace(/[^a-z0-9-]/g, "-") + "-pull-secret";
    byId("robot-kubernetes").textContent = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${secretName}\ndata:\n  .dockerconfigjson: ${btoa(dockerConfig)}\ntype: kubernetes.io/dockerconfigjson\n`;
    byId("robot-podman").textContent = Slipway.podmanCommand("login", `-u='${robot.name}' -p='${token}' ${host}`, panel);
    byId("robot-docker").textContent = JSON.stringify({ auths: { [host]: { auth, email: "" } } }, null, 2);
  }

  async function showCredentials() {
    byId("robot-credentials-name").textContent = robot.name;
    showPane("token");
    Slipway.openDialog("robot-credentials-dialog");
    const result = await Slipway.api("GET", `${apiBase}/${encodeURIComponent(robot.short)}`);
    if (!result.ok) { Slipway.showError(byId("robot-credentials-error"), Slipway.errorText(result)); return; }
    fillCredentials(result.data.token || "");
  }

  function showPane(name) {
    document.querySelectorAll("#robot-credentials-dialog .cred-pane").forEach((p) => { p.hidden = p.id !== `cred-${name}`; });
    document.querySelectorAll("#robot-credentials-tabs li").forEach((li) => li.classList.toggle("current", li.firstElementChild.dataset.cred === name));
  }
  document.querySelectorAll("#robot-credentials-tabs button").forEach((b) => b.addEventListener("click", () => showPane(b.dataset.cred)));

  byId("robot-regenerate").addEventListener("click", async () => {
    if (!window.confirm(`Regenerate the token of ${robot.name}? The old token stops working.`)) return;
    const result = await Slipway.api("POST", `${apiBase}/${encodeURIComponent(robot.short)}/regenerate`);
    if (!result.ok) { Slipway.showError(byId("robot-credentials-error"), Slipway.errorText(result)); return; }
    fillCredentials(result.data.token || "");
    Slipway.toast("Token regenerated");
  });

  byId("robot-kubernetes-download").addEventListener("click", () => {
    const blob = new Blob([byId("robot-kubernetes").textContent], { type: "application/x-yaml" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${robot.name.replace("+", "-")}-secret.yml`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });

  // --- Repository permissions (bulk) -----------------------------------------------------
  const roleSelect = (value) => {
    const select = document.createElement("select");
    for (const r of ["none", "read", "write", "admin"]) {
      const o = document.createElement("option");
      o.value = r;
      o.textContent = r === "none" ? "None" : r[0].toUpperCase() + r.slice(1);
      if (r === value) o.selected = true;
      select.appendChild(o);
    }
    return select;
  };

  async function showPermissions() {
    byId("robot-permissions-name").textContent = robot.name;
    const rows = byId("robot-permissions-rows");
    rows.textContent = "";
    Slipway.openDialog("robot-permissions-dialog");
    const result = await Slipway.api("GET", `${apiBase}/${encodeURIComponent(robot.short)}/permissions`);
    if (!result.ok) { Slipway.showError(byId("robot-permissions-error"), Slipway.errorText(result)); return; }
    const current = {};
    for (const p of result.data.permissions || []) current[p.repository.name] = p.role;
    for (const li of document.querySelectorAll("#robot-repos li")) {
      const name = li.dataset.name;
      const tr = document.createElement("tr");
      tr.dataset.name = name;
      tr.dataset.original = current[name] || "none";
      const check = document.createElement("td");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "robot-repo-check";
      box.setAttribute("aria-label", `Select ${li.dataset.repo}`);
      check.appendChild(box);
      const label = document.createElement("td");
      label.textContent = li.dataset.repo;
      const role = document.createElement("td");
      role.appendChild(roleSelect(current[name] || "none"));
      tr.append(check, label, role);
      rows.appendChild(tr);
    }
    if (!rows.children.length) Slipway.showError(byId("robot-permissions-error"), "This namespace has no repositories yet.");
  }

  byId("robot-permissions-apply").addEventListener("click", () => {
    const value = byId("robot-permissions-bulk").value;
    document.querySelectorAll("#robot-permissions-rows tr").forEach((tr) => {
      if (tr.querySelector(".robot-repo-check").checked) tr.querySelector("select").value = value;
    });
  });

  byId("robot-permissions-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const permissions = [];
    document.querySelectorAll("#robot-permissions-rows tr").forEach((tr) => {
      const role = tr.querySelector("select").value;
      if (role !== tr.dataset.original) permissions.push({ repository: tr.dataset.name, role });
    });
    if (permissions.length === 0) { byId("robot-permissions-dialog").close(); return; }
    const result = await Slipway.api("PUT", `${apiBase}/${encodeURIComponent(robot.short)}/permissions`, { permissions });
    if (!result.ok) { Slipway.showError(byId("robot-permissions-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon("Successfully updated repository permission");
  });

  // --- Robot federation (keyless robots) -------------------------------------------------
  let federationRows = 0;
  function federationRow(entry) {
    const n = federationRows++;
    const fieldset = document.createElement("fieldset");
    fieldset.className = "federation-entry";
    const legend = document.createElement("legend");
    legend.textContent = "Federation entry";
    fieldset.appendChild(legend);
    const field = (key, label, value, multiline) => {
      const div = document.createElement("div");
      div.className = "field";
      const l = document.createElement("label");
      l.htmlFor = `federation-${key}-${n}`;
      l.textContent = label;
      const input = document.createElement(multiline ? "textarea" : "input");
      input.id = l.htmlFor;
      input.dataset.key = key;
      input.autocomplete = "off";
      input.value = value || "";
      div.append(l, input);
      fieldset.appendChild(div);
    };
    field("issuer", "Issuer URL", entry.issuer);
    field("subject", "Subject", entry.subject);
    field("audience", "Audience (optional)", entry.audience);
    field("conditions", "Claim conditions (optional)", Object.entries(entry.conditions || {}).map(([k, v]) => `${k}=${v}`).join("\n"), true);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.addEventListener("click", () => fieldset.remove());
    fieldset.appendChild(remove);
    byId("robot-federation-rows").appendChild(fieldset);
  }

  async function showFederation() {
    byId("robot-federation-name").textContent = robot.name;
    byId("robot-federation-rows").textContent = "";
    byId("robot-federation-error").hidden = true;
    Slipway.openDialog("robot-federation-dialog");
    const result = await Slipway.api("GET", `${apiBase}/${encodeURIComponent(robot.short)}/federation`);
    if (!result.ok) { Slipway.showError(byId("robot-federation-error"), Slipway.errorText(result)); return; }
    for (const entry of result.data || []) federationRow(entry);
  }
  byId("robot-federation-add").addEventListener("click", () => federationRow({}));

  byId("robot-federation-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const entries = [];
    for (const fieldset of document.querySelectorAll("#robot-federation-rows .federation-entry")) {
      const value = (key) => fieldset.querySelector(`[data-key="${key}"]`).value.trim();
      const entry = { issuer: value("issuer"), subject: value("subject") };
      if (value("audience")) entry.audience = value("audience");
      const conditions = {};
      for (const line of value("conditions").split("\n").map((l) => l.trim()).filter(Boolean)) {
        const eq = line.indexOf("=");
        if (eq < 1) { Slipway.showError(byId("robot-federation-error"), `Write each condition as claim=value: ${line}`); return; }
        conditions[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
      }
      if (Object.keys(conditions).length) entry.conditions = conditions;
      entries.push(entry);
    }
    const result = entries.length
      ? await Slipway.api("POST", `${apiBase}/${encodeURIComponent(robot.short)}/federation`, entries)
      : await Slipway.api("DELETE", `${apiBase}/${encodeURIComponent(robot.short)}/federation`);
    if (!result.ok) { Slipway.showError(byId("robot-federation-error"), `Error saving robot federation: ${Slipway.errorText(result)}`); return; }
    byId("robot-federation-dialog").close();
    Slipway.toast(`Saved robot federation for ${robot.name}`);
  });

  // --- Team membership (organizations) ---------------------------------------------------
  function showTeam() {
    byId("robot-team-name").textContent = robot.name;
    const select = byId("robot-team-select");
    select.textContent = "";
    for (const li of document.querySelectorAll("#robot-teams li")) {
      const o = document.createElement("option");
      o.value = o.textContent = li.dataset.team;
      select.appendChild(o);
    }
    Slipway.openDialog("robot-team-dialog");
  }
  byId("robot-team-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const team = byId("robot-team-select").value;
    if (!team) { Slipway.showError(byId("robot-team-error"), "This organization has no teams."); return; }
    const result = await Slipway.api("PUT", `/api/v1/organization/${encodeURIComponent(owner)}/team/${encodeURIComponent(team)}/members/${encodeURIComponent(robot.name)}`);
    if (!result.ok) { Slipway.showError(byId("robot-team-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Added ${robot.name} to ${team}`);
  });

  async function deleteRobot() {
    if (!window.confirm(`Delete robot account ${robot.name}?`)) return;
    const result = await Slipway.api("DELETE", `${apiBase}/${encodeURIComponent(robot.short)}`);
    if (!result.ok) { Slipway.showError(byId("robots-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Deleted ${robot.name}`);
  }
});
