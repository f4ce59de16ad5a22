// Tags tab and tag details: Fetch Tag, add tag, labels, expiration and delete (one tag or the
// selected ones), each through the tag/label endpoints of /api/v1/repository/{repo}.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const repo = Slipway.repoPath();
  const repoElement = document.getElementById("repo");
  const host = repoElement.dataset.host;
  const repoAPI = "/api/v1/repository/" + Slipway.encodePath(repo);
  const rowOf = (el) => el.closest("[data-tag]");
  let current = null; // {tag, digest} of the row whose action is open

  // --- Fetch Tag ---------------------------------------------------------------------
  const fetchKind = document.getElementById("fetch-kind");
  const fetchCommand = document.getElementById("fetch-command");
  function updateFetchCommand() {
    if (!current) return;
    const [client, by] = fetchKind.value.split("-");
    const ref = `${host}/${repo}`;
    const image = by === "tag" ? `${ref}:${current.tag}` : `${ref}@${current.digest}`;
    fetchCommand.value = client === "podman" ? Slipway.podmanCommand("pull", image, repoElement) : `${client} pull ${image}`;
  }
  fetchKind?.addEventListener("change", updateFetchCommand);

  // --- Per-row actions ---------------------------------------------------------------
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button");
    if (!button) return;
    const row = rowOf(button);
    if (!row) return;
    current = { tag: row.dataset.tag, digest: row.dataset.digest };
    button.closest("details")?.removeAttribute("open");
    if (button.classList.contains("fetch-tag")) {
      document.getElementById("fetch-tag-name").textContent = current.tag;
      updateFetchCommand();
      Slipway.openDialog("fetch-dialog");
    } else if (button.classList.contains("tag-add")) {
      document.getElementById("add-tag-digest").textContent = current.digest;
      document.getElementById("add-tag-name").value = "";
      Slipway.openDialog("add-tag-dialog");
      document.getElementById("add-tag-name").focus();
    } else if (button.classList.contains("tag-labels")) {
      openLabels(current.digest);
    } else if (button.classList.contains("tag-expiration")) {
      openExpiration([current.tag]);
    } else if (button.classList.contains("tag-delete")) {
      openDelete([current.tag]);
    }
  });

  // --- Add tag -----------------------------------------------------------------------
  document.getElementById("add-tag-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = document.getElementById("add-tag-name").value.trim();
    const error = document.getElementById("add-tag-error");
    if (!name) { Slipway.showError(error, "Enter a tag name."); return; }
    const result = await Slipway.api("PUT", `${repoAPI}/tag/${encodeURIComponent(name)}`, { manifest_digest: current.digest });
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    Slipway.reloadSoon(`Created tag ${name}`);
  });

  // --- Labels ------------------------------------------------------------------------
  let labels = [];      // [{id?, key, value, source_type}] as shown
  let removed = [];     // ids of existing labels to delete on save
  let labelsDigest = null;
  const labelList = document.getElementById("labels-list");
  const labelInput = document.getElementById("label-input");
  const labelInputError = document.getElementById("label-input-error");

  function renderLabels() {
    labelList.textContent = "";
    if (labels.length === 0) {
      const none = document.createElement("span");
      none.className = "muted small";
      none.textContent = "No labels";
      labelList.appendChild(none);
    }
    labels.forEach((label, index) => {
      const chip = document.createElement("span");
      chip.className = "label-chip";
      chip.textContent = `${label.key}=${label.value}`;
      if (label.source_type !== "manifest") {
        const x = document.createElement("button");
        x.type = "button";
        x.textContent = "×";
        x.setAttribute("aria-label", `Remove label ${label.key}`);
        x.addEventListener("click", () => {
          if (label.id) removed.push(label.id);
          labels.splice(index, 1);
          renderLabels();
        });
        chip.appendChild(x);
      }
      labelList.appendChild(chip);
    });
  }

  async function openLabels(digest) {
    labelsDigest = digest;
    labels = [];
    removed = [];
    document.getElementById("labels-digest").textContent = digest;
    labelInput.value = "";
    Slipway.openDialog("labels-dialog");
    const result = await Slipway.api("GET", `${repoAPI}/manifest/${encodeURIComponent(digest)}/labels`);
    if (!result.ok) { Slipway.showError(document.getElementById("labels-error"), Slipway.errorText(result)); return; }
    labels = result.data.labels || [];
    renderLabels();
    labelInput.focus();
  }

  /** Parses "key=value"; returns null with the guide's error text otherwise. */
  function parseLabel(text) {
    const at = text.indexOf("=");
    if (at <= 0) return null;
    return { key: text.slice(0, at).trim(), value: text.slice(at + 1) };
  }

  function addPendingLabel() {
    const text = labelInput.value.trim();
    if (!text) return true;
    const parsed = parseLabel(text);
    if (!parsed || !parsed.key) {
      Slipway.showError(labelInputError, "Invalid label format, must be key value separated by =");
      return false;
    }
    Slipway.showError(labelInputError, "");
    labels.push({ key: parsed.key, value: parsed.value, source_type: "api", pending: true });
    labelInput.value = "";
    renderLabels();
    return true;
  }

  document.getElementById("label-add")?.addEventListener("click", addPendingLabel);
  labelInput?.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addPendingLabel(); } });
  labelInput?.addEventListener("blur", () => { if (labelInput.value.trim()) addPendingLabel(); });

  document.getElementById("labels-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!addPendingLabel()) return;
    const error = document.getElementById("labels-error");
    const base = `${repoAPI}/manifest/${encodeURIComponent(labelsDigest)}/labels`;
    for (const id of removed) {
      const result = await Slipway.api("DELETE", `${base}/${encodeURIComponent(id)}`);
      if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    }
    removed = [];
    for (const label of labels.filter((l) => l.pending)) {
      const result = await Slipway.api("POST", base, { key: label.key, value: label.value, media_type: "text/plain" });
      if (!result.ok) { Slipway.showError(error, `${label.key}: ${Slipway.errorText(result)}`); return; }
      label.pending = false;
      label.id = result.data?.label?.id;
    }
    Slipway.reloadSoon("Created labels successfully");
  });

  // --- Expiration (one tag or bulk) ---------------------------------------------------
  let expirationTags = [];
  const neverBox = document.getElementById("expiration-never");
  const dateInput = document.getElementById("expiration-date");
  neverBox?.addEventListener("change", () => { dateInput.disabled = neverBox.checked; });

  function openExpiration(tags) {
    expirationTags = tags;
    document.getElementById("expiration-tags").textContent = tags.length === 1 ? `Tag ${tags[0]}` : `${tags.length} tags: ${tags.join(", ")}`;
    neverBox.checked = false;
    dateInput.disabled = false;
    const soon = new Date(Date.now() + 7 * 86400 * 1000);
    soon.setSeconds(0, 0);
    dateInput.value = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    Slipway.openDialog("expiration-dialog");
  }

  document.getElementById("expiration-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("expiration-error");
    let expiration = null;
    if (!neverBox.checked) {
      expiration = Slipway.localInputToSeconds(dateInput.value);
      if (expiration === null) { Slipway.showError(error, "Choose a date and time, or Never expires."); return; }
    }
    let result;
    if (expirationTags.length === 1) {
      result = await Slipway.api("PUT", `${repoAPI}/tag/${encodeURIComponent(expirationTags[0])}`, { expiration });
    } else {
      result = await Slipway.api("POST", `${repoAPI}/tag/expiration`, { tags: expirationTags, expiration });
    }
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    const when = expiration === null ? "never" : Slipway.formatLocal(new Date(expiration * 1000));
    const which = expirationTags.length === 1 ? `tag ${expirationTags[0]}` : `${expirationTags.length} tags`;
    Slipway.reloadSoon(`Successfully set expiration for ${which} to ${when}`);
  });

  // --- Delete (one tag or bulk) --------------------------------------------------------
  let deleteTags = [];
  function openDelete(tags) {
    deleteTags = tags;
    document.getElementById("delete-tags-names").textContent = tags.join(", ");
    Slipway.openDialog("delete-tags-dialog");
  }

  document.getElementById("delete-tags-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("delete-tags-error");
    const failures = [];
    for (const tag of deleteTags) {
      const result = await Slipway.api("DELETE", `${repoAPI}/tag/${encodeURIComponent(tag)}`);
      if (!result.ok) failures.push(`${tag}: ${Slipway.errorText(result)}`);
    }
    if (failures.length > 0) { Slipway.showError(error, failures.join("\n")); return; }
    const details = document.getElementById("tag-details");
    if (details) {
      sessionStorage.setItem("slipway-toast", `Deleted ${deleteTags.join(", ")}`);
      window.location.href = "/repository/" + Slipway.encodePath(repo) + "?tab=tags";
    } else {
      Slipway.reloadSoon(`Deleted ${deleteTags.join(", ")}`);
    }
  });

  // --- Bulk selection ------------------------------------------------------------------
  const selectedTags = () => Array.from(document.querySelectorAll(".tag-select:checked")).map((b) => b.value);
  document.getElementById("select-all-tags")?.addEventListener("change", (e) => {
    document.querySelectorAll(".tag-select").forEach((b) => { b.checked = e.target.checked; });
  });
  function bulk(action) {
    document.getElementById("bulk-actions")?.removeAttribute("open");
    const tags = selectedTags();
    if (tags.length === 0) { Slipway.toast("Select one or more tags first", "error"); return; }
    action(tags);
  }
  document.getElementById("bulk-expiration")?.addEventListener("click", () => bulk(openExpiration));
  document.getElementById("bulk-delete")?.addEventListener("click", () => bulk(openDelete));
});
