// Usage logs: Export sends the shown date range to .../exportlogs with an e-mail address or a
// callback URL (the API validates both).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("usage-logs");
  if (!section) return;
  document.getElementById("export-logs-open").addEventListener("click", () => Slipway.openDialog("export-logs-dialog"));
  document.getElementById("export-logs-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = document.getElementById("export-target").value.trim();
    const error = document.getElementById("export-logs-error");
    if (!target) { Slipway.showError(error, "Enter an e-mail address or a callback URL."); return; }
    const day = (id) => { const [y, m, d] = document.getElementById(id).value.split("-"); return `${m}/${d}/${y}`; };
    const query = `?starttime=${encodeURIComponent(day("logs-from"))}&endtime=${encodeURIComponent(day("logs-to"))}`;
    const body = /^https?:\/\//i.test(target) ? { callback_url: target } : { callback_email: target };
    const result = await Slipway.api("POST", section.dataset.exportApi + query, body);
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    document.getElementById("export-logs-dialog").close();
    Slipway.toast("Log export started" + (result.data?.export_id ? ` (${result.data.export_id})` : ""));
  });
});
