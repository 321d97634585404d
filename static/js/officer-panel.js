// The officer's action panel: the one text box follows the action chosen (its hint, the
// button's words, the voice recorder only for a reply, the outbox entry's name).
// Delegated from the document: htmx swaps the panel in place.
(function () {
  "use strict";
  function sync(form) {
    var chosen = form.querySelector("input[name=action]:checked");
    if (!chosen) return;
    var text = form.querySelector("textarea[name=note]");
    if (text) text.placeholder = chosen.dataset.placeholder || "";
    var button = form.querySelector("[data-action-button] span");
    if (button) button.textContent = chosen.dataset.label || "";
    var icon = form.querySelector("[data-action-button] svg use");
    var chosenIcon = chosen.parentNode.querySelector("svg use");
    if (icon && chosenIcon) icon.setAttribute("href", chosenIcon.getAttribute("href"));
    form.querySelectorAll(".for-reply").forEach(function (part) {
      part.hidden = chosen.value !== "reply";
    });
    var id = form.getAttribute("action").split("/")[3];
    form.dataset.outboxLabel = "#" + id + " " + (chosen.dataset.label || "");
    form.dataset.outboxName = "action-" + chosen.value;
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.name === "action" && target.form && target.form.id === "action-form") sync(target.form);
  });
  function all() {
    var form = document.getElementById("action-form");
    if (form) sync(form);
  }
  document.addEventListener("DOMContentLoaded", all);
  document.addEventListener("htmx:afterSwap", all);
})();
