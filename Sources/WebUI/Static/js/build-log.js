// Build page: streams the log while the build runs (GET .../build/{uuid}/logs?start=N every
// second, plus .../status for the phase), groups output under collapsible `command` entries,
// highlights errors; Copy Logs and Cancel. After Cancel the badge says "cancelling" until the
// API reports the phase `cancelled` (the worker has stopped the build), or another final phase.
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
  let cancelling = section.dataset.cancelling === "true";
  const cancelStatus = document.getElementById("build-cancel-status");

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
      // A multi-architecture build's phase changes name their platform (#18).
      const shown = entry.data && entry.data.platform ? `[${entry.data.platform}] ${message}` : message;
      plain.push(`=== phase: ${shown} ===`);
      group = null;
      log.appendChild(line(shown, "phase"));
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

  // What the badge shows: the phase, or "cancelling" from the cancel until the build ends.
  function shownPhase() {
    return cancelling && !terminal.has(phase) ? "cancelling" : phase;
  }

  function render() {
    const shown = shownPhase();
    if (phasePill.textContent !== shown) {
      phasePill.textContent = shown;
      phasePill.className = "pill phase-" + shown;
    }
  }

  function setPhase(value) {
    if (!value || value === phase) return;
    phase = value;
    section.dataset.phase = value;
    if (terminal.has(value)) {
      document.getElementById("cancel-build")?.remove();
      const finished = document.getElementById("build-finished");
      if (finished && finished.querySelector(".muted")) finished.textContent = Slipway.formatLocal(new Date());
      if (cancelling) {
        cancelStatus.textContent = endedText(value);
        cancelling = false;
      }
    }
    render();
  }

  function endedText(value) {
    return value === "cancelled" ? "Build cancelled." : `The build ended (${value}) before it could be cancelled.`;
  }

  function startCancelling() {
    cancelStatus.hidden = false;
    if (terminal.has(phase)) { cancelStatus.textContent = endedText(phase); return; }  // a queued build stops at once
    cancelling = true;
    section.dataset.cancelling = "true";
    cancelStatus.textContent = "Cancelling: waiting for the worker to stop the build…";
    render();
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
    if (status) status.textContent = `Build ${shownPhase()}: following the log…`;
    setTimeout(tick, 1000);
  }
  tick();

  document.getElementById("copy-logs")?.addEventListener("click", (e) => Slipway.copyText(plain.join("\n") + "\n", e.target));

  document.getElementById("cancel-build")?.addEventListener("click", async (e) => {
    if (!window.confirm("Cancel this build?")) return;
    const button = e.currentTarget;
    button.disabled = true;
    const result = await Slipway.api("DELETE", buildAPI);
    if (!result.ok) {
      button.disabled = false;
      Slipway.showError(document.getElementById("build-action-error"), Slipway.errorText(result));
      return;
    }
    // Asked, not done: a running build stops when its worker has stopped the builder.
    button.remove();
    startCancelling();
    await pollStatus();
  });
});
