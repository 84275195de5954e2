// llem report: sort the runs table by a header click, filter it by text and status. No framework.
(function () {
  const table = document.getElementById("runs");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const query = document.getElementById("filter");
  const status = document.getElementById("status");
  const count = document.getElementById("shown");

  function key(row, col) {
    const cell = row.cells[col];
    const v = cell.dataset.v;  // numbers sort by value; a missing one sorts last
    if (v !== undefined) return v === "" ? null : parseFloat(v);
    return cell.textContent.trim().toLowerCase();
  }

  table.tHead.addEventListener("click", function (ev) {
    const th = ev.target.closest("th");
    if (!th) return;
    const col = th.cellIndex;
    const asc = th.getAttribute("aria-sort") !== "ascending";
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.sort(function (a, b) {
      const x = key(a, col), y = key(b, col);
      if (x === null || y === null) return (x === null) - (y === null);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    for (const row of rows) body.appendChild(row);
  });

  function filter() {
    const words = query.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      const ok = words.every(function (w) { return text.includes(w); }) &&
        (status.value === "" || row.dataset.status === status.value);
      row.hidden = !ok;
      shown += ok;
    }
    count.textContent = shown + " of " + rows.length + " runs";
  }
  // a link from the table to a run's details opens them
  function openTarget() {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  query.addEventListener("input", filter);
  status.addEventListener("change", filter);
  filter();
})();
