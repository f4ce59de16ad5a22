// The superuser panel: create, disable, enable and delete users, delete organizations, post and
// delete banner messages, each through /api/v1/superuser and /api/v1/messages.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const byId = (id) => document.getElementById(id);
  const errorBox = byId("superuser-error");
  const fail = (result) => Slipway.showError(errorBox, Slipway.errorText(result));
  const userAPI = (name) => `/api/v1/superuser/users/${encodeURIComponent(name)}`;

  byId("create-user-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = byId("new-user-name").value.trim();
    const email = byId("new-user-email").value.trim();
    if (!username) { Slipway.showError(errorBox, "Enter a user name."); return; }
    const body = { username };
    if (email) body.email = email;
    const result = await Slipway.api("POST", "/api/v1/superuser/users/", body);
    if (!result.ok) { fail(result); return; }
    Slipway.showError(errorBox, "");
    byId("new-user-password-value").textContent = result.data.password || "";
    byId("new-user-password").hidden = false;
    const row = document.createElement("tr");
    row.dataset.user = username;
    for (const text of [username, email, "enabled", ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    byId("users-table")?.querySelector("tbody").appendChild(row);
    Slipway.toast(`Created user ${username}`);
  });

  byId("create-message-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = { content: byId("new-message-content").value, severity: byId("new-message-severity").value, media_type: byId("new-message-type").value };
    const result = await Slipway.api("POST", "/api/v1/messages", { message });
    if (!result.ok) { fail(result); return; }
    Slipway.reloadSoon("Message posted");
  });

  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button");
    if (!button) return;
    const userRow = button.closest("tr[data-user]");
    const orgRow = button.closest("tr[data-org]");
    const messageRow = button.closest("tr[data-message]");
    let result = null;
    let done = "";
    if (userRow && (button.classList.contains("user-disable") || button.classList.contains("user-enable"))) {
      const enabled = button.classList.contains("user-enable");
      result = await Slipway.api("PUT", userAPI(userRow.dataset.user), { enabled });
      done = `${enabled ? "Enabled" : "Disabled"} ${userRow.dataset.user}`;
    } else if (userRow && button.classList.contains("user-delete")) {
      if (!window.confirm(`Delete user ${userRow.dataset.user} and everything it owns?`)) return;
      result = await Slipway.api("DELETE", userAPI(userRow.dataset.user));
      done = `Deleted ${userRow.dataset.user}`;
    } else if (orgRow && button.classList.contains("org-delete")) {
      if (!window.confirm(`Delete organization ${orgRow.dataset.org} and all its repositories?`)) return;
      result = await Slipway.api("DELETE", `/api/v1/superuser/organizations/${encodeURIComponent(orgRow.dataset.org)}`);
      done = `Deleted ${orgRow.dataset.org}`;
    } else if (messageRow && button.classList.contains("message-delete")) {
      result = await Slipway.api("DELETE", `/api/v1/message/${encodeURIComponent(messageRow.dataset.message)}`);
      done = "Message deleted";
    } else {
      return;
    }
    if (!result.ok) { fail(result); return; }
    Slipway.reloadSoon(done);
  });
});
