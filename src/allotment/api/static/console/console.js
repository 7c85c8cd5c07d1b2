// allotment console: a little vanilla JavaScript, no build step.
// - an input with data-filter="#table" hides the table's rows whose
//   data-text does not contain what is typed;
// - "/" focuses the search box.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.querySelector(input.dataset.filter);
    if (!table) {
      return;
    }
    input.addEventListener("input", function () {
      var wanted = input.value.trim().toLowerCase();
      table.querySelectorAll("tbody tr[data-text]").forEach(function (row) {
        row.classList.toggle(
          "hidden", wanted !== "" && row.dataset.text.indexOf(wanted) < 0);
      });
    });
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "/" && target.tagName !== "INPUT" &&
        target.tagName !== "TEXTAREA" && target.tagName !== "SELECT") {
      event.preventDefault();
      document.getElementById("q").focus();
    }
  });
});
