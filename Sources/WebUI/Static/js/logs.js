// Usage logs: above the table, a chart of actions per day from .../aggregatelogs (inline SVG
// built here: no library, and only attributes, so the CSP has nothing inline to refuse); Export
// sends the shown date range to .../exportlogs with an e-mail address or a callback URL (the API
// validates both).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("usage-logs");
  if (!section) return;
  LogsChart.draw(section);
  document.getElementById("export-logs-open").addEventListener("click", () => Slipway.openDialog("export-logs-dialog"));
  document.getElementById("export-logs-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = document.getElementById("export-target").value.trim();
    const error = document.getElementById("export-logs-error");
    if (!target) { Slipway.showError(error, "Enter an e-mail address or a callback URL."); return; }
    const query = `?starttime=${encodeURIComponent(LogsChart.apiDay("logs-from"))}&endtime=${encodeURIComponent(LogsChart.apiDay("logs-to"))}`;
    const body = /^https?:\/\//i.test(target) ? { callback_url: target } : { callback_email: target };
    const result = await Slipway.api("POST", section.dataset.exportApi + query, body);
    if (!result.ok) { Slipway.showError(error, Slipway.errorText(result)); return; }
    document.getElementById("export-logs-dialog").close();
    Slipway.toast("Log export started" + (result.data?.export_id ? ` (${result.data.export_id})` : ""));
  });
});

const LogsChart = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const DAY = 86400000;
  const HEIGHT = 170;      // svg height in px
  const PLOT_TOP = 18;     // room for the count above the tallest bar
  const PLOT_BOTTOM = 146; // baseline; the day labels sit below it
  // Colours for the kinds, busiest first; each has at least 3:1 contrast on white.
  const PALETTE = ["#0b63c5", "#1e7b34", "#b3261e", "#7b3fb0", "#a85a00", "#00796b", "#ad1457", "#3949ab", "#5f6b7a", "#6b6b00"];

  /** The date input's value (`yyyy-mm-dd`) as the API's `MM/DD/YYYY`. */
  function apiDay(inputId) {
    const [y, m, d] = document.getElementById(inputId).value.split("-");
    return `${m}/${d}/${y}`;
  }

  function utcDay(time) {
    return new Date(time).toISOString().slice(0, 10);
  }

  function node(name, attributes, text) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function kindTitles() {
    const titles = {};
    document.querySelectorAll("#log-kind-titles li").forEach((li) => { titles[li.dataset.kind] = li.textContent; });
    return (kind) => titles[kind] || (kind.charAt(0).toUpperCase() + kind.slice(1).replace(/_/g, " "));
  }

  async function draw(section) {
    const figure = document.getElementById("logs-chart");
    const status = document.getElementById("logs-chart-status");
    if (!figure || !section.dataset.aggregateApi) return;
    const from = document.getElementById("logs-from").value;
    const to = document.getElementById("logs-to").value;
    const url = `${section.dataset.aggregateApi}?starttime=${encodeURIComponent(apiDay("logs-from"))}&endtime=${encodeURIComponent(apiDay("logs-to"))}`;
    const result = await Slipway.api("GET", url);
    if (!result.ok) { status.textContent = "The chart of actions per day is unavailable: " + Slipway.errorText(result); return; }

    // Counts per day and kind over every day of the range, empty days included.
    const days = [];
    for (let t = Date.parse(from + "T00:00:00Z"); t <= Date.parse(to + "T00:00:00Z"); t += DAY) days.push(utcDay(t));
    const perDay = new Map(days.map((d) => [d, new Map()]));
    const perKind = new Map();
    for (const row of result.data?.aggregated || []) {
      const time = Date.parse(row.datetime);
      if (Number.isNaN(time)) continue;
      const day = perDay.get(utcDay(time));
      if (!day) continue;
      day.set(row.kind, (day.get(row.kind) || 0) + row.count);
      perKind.set(row.kind, (perKind.get(row.kind) || 0) + row.count);
    }
    const total = [...perKind.values()].reduce((a, b) => a + b, 0);
    if (total === 0) { figure.hidden = true; status.textContent = `No actions from ${from} to ${to}.`; return; }

    const title = kindTitles();
    const kinds = [...perKind.keys()].sort((a, b) => perKind.get(b) - perKind.get(a) || a.localeCompare(b));
    const colour = (kind) => PALETTE[kinds.indexOf(kind) % PALETTE.length];
    const dayTotal = (d) => [...perDay.get(d).values()].reduce((a, b) => a + b, 0);
    const max = Math.max(...days.map(dayTotal));
    const busiest = days.find((d) => dayTotal(d) === max);

    figure.hidden = false;
    const summary = `${total} action${total === 1 ? "" : "s"} from ${from} to ${to}; most on ${busiest} (${max}).`;
    const svg = node("svg", { id: "logs-chart-svg", role: "img", height: HEIGHT, "aria-labelledby": "logs-chart-svg-title" });
    svg.appendChild(node("title", { id: "logs-chart-svg-title" }, `Actions per day: ${summary}`));
    svg.appendChild(node("line", { x1: "0%", x2: "100%", y1: PLOT_BOTTOM + 0.5, y2: PLOT_BOTTOM + 0.5 }));

    // x positions as percentages, so the chart fills any width without stretching its text.
    const step = 100 / days.length;
    const barWidth = step * 0.7;
    const plotWidthPx = document.getElementById("logs-chart-plot").clientWidth || 600;
    const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor(plotWidthPx / 52))));
    days.forEach((d, i) => {
      const count = dayTotal(d);
      const x = i * step + (step - barWidth) / 2;
      const group = node("g", { class: "chart-day", "data-day": d, "data-count": count });
      const breakdown = kinds.filter((k) => perDay.get(d).get(k)).map((k) => `${title(k)} ${perDay.get(d).get(k)}`).join(", ");
      group.appendChild(node("title", {}, `${d}: ${count} action${count === 1 ? "" : "s"}${breakdown ? " (" + breakdown + ")" : ""}`));
      let y = PLOT_BOTTOM;
      for (const k of kinds) {
        const n = perDay.get(d).get(k) || 0;
        if (!n) continue;
        const h = Math.max(1, (n / max) * (PLOT_BOTTOM - PLOT_TOP));
        y -= h;
        group.appendChild(node("rect", { x: `${x}%`, width: `${barWidth}%`, y, height: h, fill: colour(k), "data-kind": k }));
      }
      if (count > 0) group.appendChild(node("text", { class: "count", x: `${x + barWidth / 2}%`, y: y - 4, "text-anchor": "middle" }, String(count)));
      if (i % labelEvery === 0) group.appendChild(node("text", { x: `${x + barWidth / 2}%`, y: PLOT_BOTTOM + 16, "text-anchor": "middle" }, d.slice(5)));
      svg.appendChild(group);
    });
    const plot = document.getElementById("logs-chart-plot");
    plot.textContent = "";
    plot.appendChild(svg);

    const legend = document.getElementById("logs-chart-legend");
    legend.textContent = "";
    for (const k of kinds) {
      const li = document.createElement("li");
      li.dataset.kind = k;
      const swatch = node("svg", { width: 12, height: 12, "aria-hidden": "true" });
      swatch.appendChild(node("rect", { width: 12, height: 12, rx: 2, fill: colour(k) }));
      li.append(swatch, document.createTextNode(`${title(k)} (${perKind.get(k)})`));
      legend.appendChild(li);
    }
    status.textContent = summary;
  }

  return { draw, apiDay };
})();
