// Events and notifications panel of repository settings: list, create, Test, reset failures and
// delete through /api/v1/repository/{repo}/notification/. Hidden when that API does not answer.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const panel = document.getElementById("notifications-panel");
  if (!panel) return;
  const byId = (id) => document.getElementById(id);
  const base = `/api/v1/repository/${Slipway.encodePath(Slipway.repoPath())}/notification/`;
  const eventNames = { repo_push: "Push to Repository", build_failure: "Image build failed", build_queued: "Image build queued",
    build_start: "Image build started", build_success: "Image build success", build_cancelled: "Image build cancelled",
    repo_image_expiry: "Image expiry trigger" };

  async function load() {
    const result = await Slipway.api("GET", base);
    if (!result.ok) return;
    panel.hidden = false;
    const list = byId("notifications-list");
    const items = result.data.notifications || [];
    if (items.length === 0) { Slipway.showEmpty(list, "No notifications."); return; }
    const body = Slipway.tableIn(list, "notifications-table", ["Title", "Event", "Notification", "Status", ""]);
    for (const n of items) {
      const tr = document.createElement("tr");
      tr.dataset.notification = n.uuid;
      const cells = [n.title || "(untitled)", eventNames[n.event] || n.event,
        `${n.method}${n.config?.url ? " " + n.config.url : n.config?.email ? " " + n.config.email : ""}`,
        n.paused ? `paused after ${n.number_of_failures} failures` : n.number_of_failures ? `${n.number_of_failures} failures` : n.unsupported ? n.unsupported_reason : "active"];
      for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
      if (n.last_error) tr.title = n.last_error;
      const buttons = [["Test Notification", () => test(n)], ["Reset failures", () => reset(n)], ["Delete", () => remove(n)]]
        .filter(([label]) => label !== "Reset failures" || n.number_of_failures);
      tr.appendChild(Slipway.actionCell(buttons, "notification-action"));
      body.appendChild(tr);
    }
  }

  async function test(n) {
    const result = await Slipway.api("POST", `${base}${encodeURIComponent(n.uuid)}/test`);
    if (!result.ok) { Slipway.showError(byId("notifications-error"), Slipway.errorText(result)); return; }
    Slipway.toast("Test Notification Queued: a test version of this notification has been queued and should appear shortly");
  }
  async function reset(n) {
    const result = await Slipway.api("POST", `${base}${encodeURIComponent(n.uuid)}`);
    if (!result.ok) { Slipway.showError(byId("notifications-error"), Slipway.errorText(result)); return; }
    Slipway.toast("Failures reset");
    await load();
  }
  async function remove(n) {
    if (!window.confirm("Delete this notification?")) return;
    const result = await Slipway.api("DELETE", `${base}${encodeURIComponent(n.uuid)}`);
    if (!result.ok) { Slipway.showError(byId("notifications-error"), Slipway.errorText(result)); return; }
    Slipway.toast("Notification deleted");
    await load();
  }

  const method = byId("notification-method");
  const event = byId("notification-event");
  const syncFields = () => {
    document.querySelectorAll("#notification-dialog .method-fields").forEach((f) => { f.hidden = f.dataset.method !== method.value; });
    byId("notification-days-field").hidden = event.value !== "repo_image_expiry";
  };
  method.addEventListener("change", syncFields);
  event.addEventListener("change", syncFields);
  byId("notification-create-open").addEventListener("click", () => { byId("notification-form").reset(); syncFields(); Slipway.openDialog("notification-dialog"); });

  byId("notification-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const m = method.value;
    const config = {};
    if (m === "webhook") {
      config.url = byId("notification-url").value.trim();
      const template = byId("notification-template").value.trim();
      if (template) config.template = template;
    } else if (m === "email") config.email = byId("notification-email").value.trim();
    else if (m === "slack") config.url = byId("notification-slack").value.trim();
    else if (m === "quay_notification") config.target = { kind: byId("notification-target-kind").value, name: byId("notification-target").value.trim() };
    else if (m === "flowdock") config.flow_api_token = byId("notification-flowdock").value.trim();
    else if (m === "hipchat") { config.room_id = byId("notification-room").value.trim(); config.notification_token = byId("notification-hipchat-token").value.trim(); }
    const body = { event: event.value, method: m, config, eventConfig: {} };
    if (event.value === "repo_image_expiry") body.eventConfig.days = Number(byId("notification-days").value);
    const title = byId("notification-title-input").value.trim();
    if (title) body.title = title;
    const result = await Slipway.api("POST", base, body);
    if (!result.ok) { Slipway.showError(byId("notification-error"), Slipway.errorText(result)); return; }
    byId("notification-dialog").close();
    Slipway.toast(m === "email" ? "Notification created: a verification e-mail was sent to the address" : "Notification created");
    await load();
  });

  await load();
});
