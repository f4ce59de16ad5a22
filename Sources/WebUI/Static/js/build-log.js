// Build page: streams the log while the build runs (GET .../build/{uuid}/logs?start=N every
// second, plus .../status for the phase), groups output under collapsible `command` entries,
// highlights errors; Copy Logs and Cancel.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("build");
  const uuid = section.dataset.build;
  const buildAPI = `/api/v1/repository/${Slipway.encodePath(Slipway.repoPath())}/build/${encodeURIComponent(uuid)}`;
  const log = document.getElementById("build-log");
  const status = document.getElementById("log-status");
  const phasePill = document.getElementById("build-phase");
  const terminal = new Set(["complete", "error", "internalerror", "cancelled"]);
  let next = 0;
  let group = null;       // the open <details class="command"> new output lines go into
  const plain = [];       // the log as text, for Copy Logs
  let phase = section.dataset.phase;

  function line(text, cls) {
    const div = document.createElement("div");
    div.className = "line" + (cls ? " " + cls : "");
    div.textContent = text;
    return div;
  }

  function append(entry) {
    const type = entry.type || "";
    const message = String(entry.message ?? "");
    if (type === "phase") {
      plain.push(`=== phase: ${message} ===`);
      group = null;
      log.appendChild(line(message, "phase"));
    } else if (type === "command") {
      plain.push(message);
      const details = document.createElement("details");
      details.className = "command";
      details.open = true;
      const summary = document.createElement("summary");
      summary.textContent = message;
      details.appendChild(summary);
      log.appendChild(details);
      group = details;
    } else if (type === "error") {
      plain.push(`ERROR: ${message}`);
      (group || log).appendChild(line(message, "error-line"));
    } else {
      plain.push(message);
      (group || log).appendChild(line(message));
    }
  }

  function setPhase(value) {
    if (!value || value === phase) return;
    phase = value;
    phasePill.textContent = value;
    phasePill.className = "pill phase-" + value;
    section.dataset.phase = value;
    if (terminal.has(value)) {
      document.getElementById("cancel-build")?.remove();
      const finished = document.getElementById("build-finished");
      if (finished && finished.querySelector(".muted")) finished.textContent = Slipway.formatLocal(new Date());
    }
  }

  async function pollLogs() {
    const result = await Slipway.api("GET", `${buildAPI}/logs?start=${next}`);
    if (!result.ok) { status.textContent = Slipway.errorText(result); return false; }
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    for (const entry of result.data.logs || []) append(entry);
    next = result.data.total ?? next + (result.data.logs || []).length;
    if (atBottom) log.scrollTop = log.scrollHeight;
    return true;
  }

  async function pollStatus() {
    const result = await Slipway.api("GET", `${buildAPI}/status`);
    if (!result.ok) return;
    setPhase(result.data.phase);
    const error = document.getElementById("build-error");
    if (result.data.error) { error.textContent = result.data.error; error.hidden = false; }
  }

  async function tick() {
    const wasTerminal = terminal.has(phase);
    await pollStatus();
    if (log) await pollLogs();
    if (wasTerminal) {
      if (status) status.textContent = `Build ${phase}. ${next} log entries.`;
      return; // a finished build's log does not grow: one last read after the end is enough
    }
    if (status) status.textContent = `Build ${phase}: following the log…`;
    setTimeout(tick, 1000);
  }
  tick();

  document.getElementById("copy-logs")?.addEventListener("click", (e) => Slipway.copyText(plain.join("\n") + "\n", e.target));

  document.getElementById("cancel-build")?.addEventListener("click", async () => {
    if (!window.confirm("Cancel this build?")) return;
    const result = await Slipway.api("DELETE", buildAPI);
    if (!result.ok) { Slipway.showError(document.getElementById("build-action-error"), Slipway.errorText(result)); return; }
    Slipway.toast("Build cancelled");
    await pollStatus();
  });
});
