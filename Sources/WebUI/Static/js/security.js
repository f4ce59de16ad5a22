// The Security Scanner page: filter the vulnerabilities by text and "only fixable", and sort
// them by severity (most severe first, then least). Rows are rendered by the server.
(function () {
  const table = document.getElementById("vulnerabilities-table");
  if (!table) return;
  const body = table.tBodies[0];
  const filter = document.getElementById("vuln-filter");
  const fixable = document.getElementById("only-fixable");
  const empty = document.getElementById("no-matching-vulnerabilities");
  let descending = true;

  function apply() {
    const text = (filter.value || "").trim().toLowerCase();
    let shown = 0;
    for (const row of body.rows) {
      const visible = (!text || row.dataset.text.toLowerCase().includes(text)) && (!fixable.checked || row.dataset.fixable === "1");
      row.hidden = !visible;
      if (visible) shown++;
    }
    empty.hidden = shown > 0;
  }

  function sort() {
    const rows = Array.from(body.rows);
    rows.sort((a, b) => (Number(b.dataset.rank) - Number(a.dataset.rank)) * (descending ? 1 : -1));
    for (const row of rows) body.appendChild(row);
  }

  filter.addEventListener("input", apply);
  fixable.addEventListener("change", apply);
  document.getElementById("sort-severity").addEventListener("click", () => {
    descending = !descending;
    sort();
  });
})();
