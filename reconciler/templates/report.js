// reconciler report: sort the runs table by a header, filter it by text. Optional: the page
// shows everything without it. A cell sorts by its data-sort attribute when it has one (a
// rank, or -1 for "–"), else by its text; ties keep the page's own order (failing first).
(function () {
  "use strict";
  var table = document.getElementById("runs");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var order = new Map();
  Array.prototype.forEach.call(body.rows, function (row, index) { order.set(row, index); });

  function value(row, index, numeric) {
    var cell = row.cells[index];
    var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    return numeric ? parseFloat(text) : text.trim().toLowerCase();
  }

  function sortBy(index) {
    var header = headers[index];
    var direction = header.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var numeric = header.getAttribute("data-type") === "number";
    var sign = direction === "ascending" ? 1 : -1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, index, numeric);
      var y = value(b, index, numeric);
      var by = numeric ? x - y : x.localeCompare(y);
      // Ties keep the page's own order (failing first), whichever the direction.
      return by !== 0 ? sign * by : order.get(a) - order.get(b);
    });
    headers.forEach(function (other) {
      if (other.hasAttribute("aria-sort")) { other.setAttribute("aria-sort", "none"); }
    });
    header.setAttribute("aria-sort", direction);
    rows.forEach(function (row) { body.appendChild(row); });
  }

  headers.forEach(function (header, index) {
    var button = header.querySelector("button");
    if (button) { button.addEventListener("click", function () { sortBy(index); }); }
  });

  var box = document.getElementById("filter-box");
  var input = document.getElementById("filter");
  var none = document.getElementById("no-rows");
  box.hidden = false;
  input.addEventListener("input", function () {
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var match = !query || row.textContent.toLowerCase().indexOf(query) !== -1;
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    none.hidden = shown !== 0;
  });
}());
