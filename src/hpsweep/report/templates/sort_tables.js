// Click a column's header to sort its table by it (numbers as numbers); click again to reverse.
document.querySelectorAll("table.sortable th").forEach((header, column) => {
  header.addEventListener("click", () => {
    const body = header.closest("table").tBodies[0];
    const index = Array.from(header.parentNode.children).indexOf(header);
    const up = header.dataset.order !== "up";
    header.dataset.order = up ? "up" : "down";
    const key = row => { const text = row.children[index].textContent.trim(); const number = parseFloat(text);
                         return isNaN(number) ? text : number; };
    Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); }).forEach(row => body.appendChild(row));
  });
});
