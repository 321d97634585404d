// 常用回复: a button by each canned reply puts its text in the reply box, where the cadre
// edits it before sending. The buttons show only when this script runs; without it the list
// is there to copy from. One listener on the document serves the panel however often htmx
// swaps it in, so loading this file again (a swapped panel brings its tag) adds nothing.
(function () {
  "use strict";
  if (window.lianxinCanned) return;
  window.lianxinCanned = true;

  function reveal(root) {
    (root || document).querySelectorAll(".canned-picker .canned-use").forEach(function (b) {
      b.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest(".canned-use");
    if (!button) return;
    var picker = button.closest("[data-canned-for]");
    var box = picker && document.getElementById(picker.getAttribute("data-canned-for"));
    var text = button.parentNode.querySelector(".canned-text");
    if (!box || !text) return;
    // The panel's one text box serves every action: a canned reply is a reply.
    var reply = box.form && box.form.querySelector("input[name=action][value=reply]");
    if (reply && !reply.checked) {
      reply.checked = true;
      reply.dispatchEvent(new Event("change", { bubbles: true }));
    }
    box.value = text.textContent;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    picker.open = false;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });
  document.addEventListener("htmx:afterSettle", function (e) { reveal(e.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { reveal(); });
  } else {
    reveal();
  }
})();
