// Organization pages: create organization, teams (create, role, members, repository
// permissions, delete), members, default permissions, settings and delete, each through the
// organization/team/prototype/permission endpoints of /api/v1.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const byId = (id) => document.getElementById(id);
  const org = byId("org")?.dataset.org;
  const orgAPI = org ? `/api/v1/organization/${encodeURIComponent(org)}` : null;

  // --- Organization list: create ----------------------------------------------------------
  byId("create-org-open")?.addEventListener("click", () => { Slipway.openDialog("create-org-dialog"); byId("new-org-name").focus(); });
  byId("create-org-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = byId("new-org-name").value.trim();
    const email = byId("new-org-email").value.trim();
    if (!name) { Slipway.showError(byId("create-org-error"), "Enter an organization name."); return; }
    const body = { name };
    if (email) body.email = email;
    const result = await Slipway.api("POST", "/api/v1/organization/", body);
    if (!result.ok) { Slipway.showError(byId("create-org-error"), Slipway.errorText(result)); return; }
    sessionStorage.setItem("slipway-toast", `Created organization ${name}`);
    window.location.href = `/organization/${encodeURIComponent(name)}`;
  });

  if (!orgAPI) return;
  const teamAPI = (team) => `${orgAPI}/team/${encodeURIComponent(team)}`;

  // --- Teams ---------------------------------------------------------------------------------
  byId("create-team-open")?.addEventListener("click", () => { Slipway.openDialog("create-team-dialog"); byId("new-team-name").focus(); });
  byId("create-team-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = byId("new-team-name").value.trim();
    if (!name) { Slipway.showError(byId("create-team-error"), "Enter a team name."); return; }
    const result = await Slipway.api("PUT", teamAPI(name), { role: byId("new-team-role").value, description: byId("new-team-description").value });
    if (!result.ok) { Slipway.showError(byId("create-team-error"), Slipway.errorText(result)); return; }
    byId("create-team-dialog").close();
    Slipway.toast(`Created team ${name}`);
    // Next steps of the guide: members, then repository permissions.
    openMembers(name);
  });

  document.addEventListener("change", async (e) => {
    if (e.target.classList.contains("team-role")) {
      const team = e.target.closest("tr").dataset.team;
      const result = await Slipway.api("PUT", teamAPI(team), { role: e.target.value });
      if (!result.ok) { Slipway.showError(byId("teams-error"), Slipway.errorText(result)); return; }
      Slipway.toast(`Team ${team} is now ${e.target.value}`);
    } else if (e.target.classList.contains("prototype-role")) {
      const uuid = e.target.closest("tr").dataset.prototype;
      const result = await Slipway.api("PUT", `${orgAPI}/prototypes/${encodeURIComponent(uuid)}`, { role: e.target.value });
      if (!result.ok) { Slipway.showError(byId("prototypes-error"), Slipway.errorText(result)); return; }
      Slipway.toast("Default permission updated");
    }
  });

  let team = null;
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button");
    if (!button) return;
    const teamRow = button.closest("tr[data-team]");
    if (teamRow) {
      team = teamRow.dataset.team;
      button.closest("details")?.removeAttribute("open");
      if (button.classList.contains("team-members")) openMembers(team);
      else if (button.classList.contains("team-permissions")) openTeamPermissions(team);
      else if (button.classList.contains("team-delete")) {
        if (!window.confirm(`Delete team ${team}?`)) return;
        const result = await Slipway.api("DELETE", teamAPI(team));
        if (!result.ok) { Slipway.showError(byId("teams-error"), Slipway.errorText(result)); return; }
        Slipway.reloadSoon(`Deleted team ${team}`);
      }
      return;
    }
    const memberRow = button.closest("tr[data-member]");
    if (memberRow && button.classList.contains("member-remove")) {
      const member = memberRow.dataset.member;
      if (!window.confirm(`Remove ${member} from every team of ${org}?`)) return;
      const result = await Slipway.api("DELETE", `${orgAPI}/members/${encodeURIComponent(member)}`);
      if (!result.ok) { Slipway.showError(byId("teams-error"), Slipway.errorText(result)); return; }
      Slipway.reloadSoon(`Removed ${member}`);
      return;
    }
    const prototypeRow = button.closest("tr[data-prototype]");
    if (prototypeRow && button.classList.contains("prototype-delete")) {
      const result = await Slipway.api("DELETE", `${orgAPI}/prototypes/${encodeURIComponent(prototypeRow.dataset.prototype)}`);
      if (!result.ok) { Slipway.showError(byId("prototypes-error"), Slipway.errorText(result)); return; }
      Slipway.reloadSoon("Default permission deleted");
    }
  });

  async function openMembers(name) {
    team = name;
    byId("team-members-name").textContent = name;
    const list = byId("team-members-list");
    list.textContent = "";
    Slipway.openDialog("team-members-dialog");
    const result = await Slipway.api("GET", `${teamAPI(name)}/members?includePending=true`);
    if (!result.ok) { Slipway.showError(byId("team-members-error"), Slipway.errorText(result)); return; }
    for (const m of result.data.members || []) {
      const li = document.createElement("li");
      li.className = "toolbar";
      const label = document.createElement("span");
      label.textContent = m.name + (m.is_robot ? " (robot)" : "") + (m.invited ? " (invited to join)" : "");
      li.appendChild(label);
      // A synced team's users follow the provider; robots stay editable (as in Quay).
      if (result.data.can_edit && byId("team-member-input") && (!result.data.synced || m.is_robot)) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Remove";
        remove.addEventListener("click", async () => {
          const r = await Slipway.api("DELETE", `${teamAPI(name)}/members/${encodeURIComponent(m.name)}`);
          if (!r.ok) { Slipway.showError(byId("team-members-error"), Slipway.errorText(r)); return; }
          li.remove();
        });
        li.appendChild(remove);
      }
      list.appendChild(li);
    }
    if (!list.children.length) list.textContent = "No members yet.";
    showSync(result.data);
  }

  // Team sync (directory synchronization with a group claim of the sign-in provider).
  function showSync(data) {
    const synced = data.synced, canSync = data.can_sync;
    byId("team-sync-notice").hidden = !synced;
    byId("team-sync-detail").textContent = synced && synced.config
      ? `Group: ${synced.config.group_name} at ${synced.provider}` + (synced.last_updated ? `; last change ${synced.last_updated}.` : "; no sign-in has changed it yet.")
      : "";
    if (byId("team-sync-enable")) byId("team-sync-enable").hidden = !!synced || !canSync;
    if (byId("team-sync-disable-row")) byId("team-sync-disable-row").hidden = !synced || !data.can_edit;
  }
  byId("team-sync-enable-button")?.addEventListener("click", async () => {
    const group = byId("team-sync-group").value.trim();
    if (!group) { Slipway.showError(byId("team-members-error"), "Enter the name of the group at the provider."); return; }
    const result = await Slipway.api("POST", `${teamAPI(team)}/syncing`, { group_name: group });
    if (!result.ok) { Slipway.showError(byId("team-members-error"), Slipway.errorText(result)); return; }
    byId("team-sync-group").value = "";
    Slipway.showError(byId("team-members-error"), "");
    Slipway.toast(`Team ${team} now follows group ${group}`);
    openMembers(team);
  });
  byId("team-sync-disable")?.addEventListener("click", async () => {
    if (!window.confirm(`Stop synchronizing team ${team}? Its members stay and become editable by hand.`)) return;
    const result = await Slipway.api("DELETE", `${teamAPI(team)}/syncing`);
    if (!result.ok) { Slipway.showError(byId("team-members-error"), Slipway.errorText(result)); return; }
    Slipway.toast(`Team ${team} is no longer synchronized`);
    openMembers(team);
  });

  byId("team-members-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = byId("team-member-input");
    const member = input?.value.trim();
    if (!member) return;
    const result = await Slipway.api("PUT", `${teamAPI(team)}/members/${encodeURIComponent(member)}`);
    if (!result.ok) { Slipway.showError(byId("team-members-error"), Slipway.errorText(result)); return; }
    input.value = "";
    Slipway.showError(byId("team-members-error"), "");
    openMembers(team);
  });
  byId("team-members-dialog")?.addEventListener("close", () => { if (byId("teams-table")) Slipway.reloadSoon(); });

  async function openTeamPermissions(name) {
    byId("team-permissions-name").textContent = name;
    const rows = byId("team-permissions-rows");
    rows.textContent = "";
    Slipway.openDialog("team-permissions-dialog");
    const result = await Slipway.api("GET", `${teamAPI(name)}/permissions`);
    if (!result.ok) { Slipway.showError(byId("team-permissions-error"), Slipway.errorText(result)); return; }
    const current = {};
    for (const p of result.data.permissions || []) current[p.repository.name] = p.role;
    for (const li of document.querySelectorAll("#org-repos li")) {
      const tr = document.createElement("tr");
      tr.dataset.repo = li.dataset.repo;
      tr.dataset.original = current[li.dataset.name] || "none";
      const label = document.createElement("td");
      label.textContent = li.dataset.repo;
      const cell = document.createElement("td");
      const select = document.createElement("select");
      select.setAttribute("aria-label", `Permission on ${li.dataset.repo}`);
      for (const r of ["none", "read", "write", "admin"]) {
        const o = document.createElement("option");
        o.value = r;
        o.textContent = r === "none" ? "None" : r[0].toUpperCase() + r.slice(1);
        o.selected = r === tr.dataset.original;
        select.appendChild(o);
      }
      cell.appendChild(select);
      tr.append(label, cell);
      rows.appendChild(tr);
    }
    if (!rows.children.length) Slipway.showError(byId("team-permissions-error"), "This organization has no repositories yet.");
  }

  byId("team-permissions-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const tr of document.querySelectorAll("#team-permissions-rows tr")) {
      const role = tr.querySelector("select").value;
      if (role === tr.dataset.original) continue;
      const url = `/api/v1/repository/${Slipway.encodePath(tr.dataset.repo)}/permissions/team/${encodeURIComponent(team)}`;
      const result = role === "none" ? await Slipway.api("DELETE", url) : await Slipway.api("PUT", url, { role });
      if (!result.ok) { Slipway.showError(byId("team-permissions-error"), `${tr.dataset.repo}: ${Slipway.errorText(result)}`); return; }
    }
    Slipway.reloadSoon("Successfully updated repository permission");
  });

  // --- Default permissions -----------------------------------------------------------------
  byId("create-prototype-open")?.addEventListener("click", () => Slipway.openDialog("create-prototype-dialog"));
  document.querySelectorAll("input[name='prototype-scope']").forEach((r) => r.addEventListener("change", () => {
    byId("prototype-creator-field").hidden = document.querySelector("input[name='prototype-scope']:checked").value !== "specific";
  }));
  byId("create-prototype-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const delegate = byId("prototype-delegate").value.trim();
    if (!delegate) { Slipway.showError(byId("create-prototype-error"), "Enter who the permission applies to."); return; }
    const body = { role: byId("prototype-role").value, delegate: { name: delegate, kind: byId("prototype-delegate-kind").value } };
    if (document.querySelector("input[name='prototype-scope']:checked").value === "specific") {
      const creator = byId("prototype-creator").value.trim();
      if (!creator) { Slipway.showError(byId("create-prototype-error"), "Enter the repository creator."); return; }
      body.activating_user = { name: creator };
    }
    const result = await Slipway.api("POST", `${orgAPI}/prototypes`, body);
    if (!result.ok) { Slipway.showError(byId("create-prototype-error"), Slipway.errorText(result)); return; }
    Slipway.reloadSoon("Successfully created default permission for creator");
  });

  // --- Settings ------------------------------------------------------------------------------
  byId("org-settings-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { tag_expiration_s: Number(byId("org-time-machine").value) };
    const email = byId("org-email").value.trim();
    if (email) body.email = email;
    const result = await Slipway.api("PUT", orgAPI, body);
    if (!result.ok) { Slipway.showError(byId("org-settings-error"), Slipway.errorText(result)); return; }
    Slipway.showError(byId("org-settings-error"), "");
    Slipway.toast("Organization settings saved");
  });
  const confirmInput = byId("delete-org-confirm");
  byId("delete-org-open")?.addEventListener("click", () => { confirmInput.value = ""; byId("delete-org-submit").disabled = true; Slipway.openDialog("delete-org-dialog"); });
  confirmInput?.addEventListener("input", () => { byId("delete-org-submit").disabled = confirmInput.value.trim() !== org; });
  byId("delete-org-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (confirmInput.value.trim() !== org) return;
    const result = await Slipway.api("DELETE", orgAPI);
    if (!result.ok) { Slipway.showError(byId("delete-org-error"), Slipway.errorText(result)); return; }
    sessionStorage.setItem("slipway-toast", `Deleted ${org}`);
    window.location.href = "/organization/";
  });
});
