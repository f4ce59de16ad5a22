// Shared by every page: the API helper (cookie session + CSRF token), toasts, dialogs,
// local times, the user menu's sign out and the notifications bell.
"use strict";

const Slipway = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  /** Calls /api/v1 with the session cookie and CSRF token. Resolves to {ok, status, data};
   *  `data` is the decoded JSON (or text) body. Never throws for HTTP errors. */
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({ "X-CSRF-Token": csrf() }, extraHeaders || {});
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      if (body instanceof Blob || body instanceof ArrayBuffer) {
        init.body = body;
      } else {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: { error_message: "The server could not be reached." } };
    }
    const type = response.headers.get("Content-Type") || "";
    let data = null;
    if (response.status !== 204) {
      data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    }
    return { ok: response.ok, status: response.status, data };
  }

  /** The human message of a Quay error body ({error_message, detail, message}). */
  function errorText(result) {
    const d = result.data;
    if (d && typeof d === "object") {
      return d.error_message || d.detail || d.message || d.error || `Request failed (HTTP ${result.status})`;
    }
    if (typeof d === "string" && d.length > 0 && d.length < 300) return d;
    return `Request failed (HTTP ${result.status})`;
  }

  /** Shows `message` in the element (or hides it when empty). Uses textContent: never HTML. */
  function showError(el, message) {
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  let toastTimer = null;
  function toast(message, kind) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.className = "toast " + (kind || "success");
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  /** Repository path of the page (`<body>` has no state; pages put it on #repo). */
  function repoPath() {
    return document.getElementById("repo")?.dataset.repository || "";
  }

  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  /** Opens a <dialog>; buttons with [data-close] close it. */
  function openDialog(id) {
    const dialog = document.getElementById(id);
    if (!dialog) return null;
    dialog.querySelectorAll(".error").forEach((e) => showError(e, ""));
    if (!dialog.open) dialog.showModal();
    return dialog;
  }

  function copyText(text, button) {
    const done = () => { if (button) { const old = button.textContent; button.textContent = "Copied"; setTimeout(() => (button.textContent = old), 1500); } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  }

  function fallbackCopy(text, done) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    area.remove();
    done();
  }

  /** `<input type="datetime-local">` value → unix seconds (local time), or null. */
  function localInputToSeconds(value) {
    if (!value) return null;
    const t = new Date(value).getTime();
    return Number.isNaN(t) ? null : Math.floor(t / 1000);
  }

  function formatLocal(date) {
    return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  /** `2024-05-01 14:03` in local time: one short line for dense tables (usage logs). */
  function formatCompact(date) {
    const two = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
  }

  /** Rewrites `<time datetime>` into local time; `class="compact"` ones get the short form. */
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (Number.isNaN(d.getTime())) return;
      t.title = t.classList.contains("compact") ? formatLocal(d) : t.textContent;
      t.textContent = t.classList.contains("compact") ? formatCompact(d) : formatLocal(d);
    });
  }

  /** `podman <verb> [--tls-verify=false] <args>`. The server decides whether it speaks plain
   *  HTTP (`RegistryAddress`) and says so in the element's `data-plain-http`. */
  function podmanCommand(verb, args, element) {
    return `podman ${verb}${element?.dataset.plainHttp === "true" ? " --tls-verify=false" : ""} ${args}`;
  }

  function reloadSoon(message) {
    if (message) sessionStorage.setItem("slipway-toast", message);
    window.location.reload();
  }

  /** Replaces `list`'s content with a muted "nothing here" line. */
  function showEmpty(list, text) {
    list.textContent = "";
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    list.appendChild(p);
  }

  /** Puts a scrollable table with these column headers into `list`; returns its tbody. */
  function tableIn(list, id, headers) {
    list.textContent = "";
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const table = document.createElement("table");
    table.id = id;
    const head = table.createTHead().insertRow();
    for (const h of headers) {
      const th = document.createElement("th");
      if (h === "") { const sr = document.createElement("span"); sr.className = "sr-only"; sr.textContent = "Actions"; th.appendChild(sr); }
      else th.textContent = h;
      head.appendChild(th);
    }
    const body = document.createElement("tbody");
    table.appendChild(body);
    wrap.appendChild(table);
    list.appendChild(wrap);
    return body;
  }

  /** A cell of buttons, one per [label, handler]; each carries `data-action` and `className`. */
  function actionCell(buttons, className) {
    const td = document.createElement("td");
    td.className = "actions";
    for (const [label, handler] of buttons) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.className = className;
      b.dataset.action = label;
      b.addEventListener("click", handler);
      td.append(b, document.createTextNode(" "));
    }
    return td;
  }

  /** "name=value" lines into an object (build arguments and secrets); blank lines are skipped,
   *  a line without a name and "=" throws an Error naming `what`. */
  function keyValueLines(text, what) {
    const out = {};
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const at = line.indexOf("=");
      if (at <= 0) throw new Error(`Each ${what} line must be name=value.`);
      out[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    return out;
  }

  // "linux/amd64, linux/arm64" → ["linux/amd64", "linux/arm64"] (commas or spaces; the server
  // checks each against the known platforms).
  function platformList(text) {
    return text.split(/[\s,]+/).map((p) => p.trim()).filter(Boolean);
  }

  return { api, errorText, keyValueLines, platformList, showError, toast, repoPath, encodePath, openDialog, copyText, localInputToSeconds, formatLocal, formatCompact, localizeTimes,
           reloadSoon, podmanCommand, showEmpty, tableIn, actionCell };
})();

document.addEventListener("DOMContentLoaded", () => {
  Slipway.localizeTimes();
  const pending = sessionStorage.getItem("slipway-toast");
  if (pending) { sessionStorage.removeItem("slipway-toast"); Slipway.toast(pending); }

  document.addEventListener("click", (e) => {
    const closer = e.target.closest("[data-close]");
    if (closer) { closer.closest("dialog")?.close(); return; }
    const copy = e.target.closest("[data-copy-from]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copyFrom);
      if (source) Slipway.copyText(source.value !== undefined && source.tagName !== "DIV" && source.tagName !== "PRE" ? source.value : source.textContent, copy);
    }
  });

  document.getElementById("signout")?.addEventListener("click", async () => {
    await Slipway.api("POST", "/api/v1/signout");
    window.location.href = "/signin";
  });

  // Close the user menu when clicking elsewhere.
  document.addEventListener("click", (e) => {
    document.querySelectorAll("details.usermenu[open]").forEach((d) => { if (!d.contains(e.target)) d.open = false; });
  });

  setUpBell();
});

/** The notifications bell: shown only when GET /api/v1/user/notifications answers 200. */
async function setUpBell() {
  const bell = document.getElementById("bell");
  if (!bell) return;
  const result = await Slipway.api("GET", "/api/v1/user/notifications");
  if (!result.ok || !result.data) return;
  const items = Array.isArray(result.data.notifications) ? result.data.notifications : [];
  bell.hidden = false;
  const count = document.getElementById("bell-count");
  const unread = items.filter((n) => !n.dismissed).length;
  if (unread > 0) { count.textContent = String(unread); count.hidden = false; }
  const menu = document.getElementById("bell-menu");
  if (items.length > 0) {
    menu.textContent = "";
    const list = document.createElement("ul");
    list.className = "plain";
    for (const n of items.slice(0, 20)) {
      const li = document.createElement("li");
      li.dataset.kind = n.kind || "";
      li.appendChild(notificationLine(n));
      if (n.created) {
        const small = document.createElement("div");
        small.className = "muted small";
        small.textContent = n.created;
        li.appendChild(small);
      }
      list.appendChild(li);
    }
    menu.appendChild(list);
  }
  const button = document.getElementById("bell-button");
  button.addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    button.setAttribute("aria-expanded", String(!menu.hidden));
  });
}

/** One bell entry: a team invitation links to its accept page; other kinds name their event.
 *  Built with textContent and an encoded href only (metadata is user-chosen text). */
function notificationLine(n) {
  const meta = n.metadata || {};
  if (n.kind === "org_team_invite" && typeof meta.code === "string" && meta.code) {
    const a = document.createElement("a");
    a.className = "invite-link";
    a.href = `/confirminvite?code=${encodeURIComponent(meta.code)}`;
    a.textContent = `Invitation to join team ${meta.team || "?"} in org ${meta.org || "?"}`;
    if (meta.inviter) a.title = `Invited by ${meta.inviter}`;
    return a;
  }
  // Identity notices (sign-ins linked, robot federation): a sentence, not the kind's name.
  if (n.kind === "external_login_linked") {
    return document.createTextNode(`Sign-in through ${meta.service || "?"} was linked to your account`);
  }
  if (n.kind === "external_login_unlinked") {
    return document.createTextNode(`Sign-in through ${meta.service || "?"} was unlinked from your account`);
  }
  if (n.kind === "robot_federation_changed") {
    return document.createTextNode(`Federation of robot ${meta.robot || "?"} ${meta.entries === "0" ? "removed" : "changed"} by ${meta.performer || "?"}`);
  }
  if (n.kind === "robot_federation_first_exchange") {
    return document.createTextNode(`First keyless sign-in of robot ${meta.robot || "?"} from ${meta.issuer || "?"}`);
  }
  const kind = n.kind || "notification";
  return document.createTextNode(`${kind.replace(/_/g, " ")}${meta.repository ? " · " + meta.repository : ""}`);
}
