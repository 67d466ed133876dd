// The ledger's pages open on what matters: a table's column descriptions (long, one per
// column) fold behind a toggle instead of pushing the rows a screen down.
// Datasette puts extra scripts in the page's head: wait for the body.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("dl.column-descriptions").forEach((dl) => {
    const details = document.createElement("details");
    details.className = "column-descriptions-toggle";
    const summary = document.createElement("summary");
    summary.textContent = `What the ${dl.querySelectorAll("dt").length} columns mean`;
    dl.parentNode.insertBefore(details, dl);
    details.appendChild(summary);
    details.appendChild(dl);
  });
});
