// The live request queue: the table (#request-table) polls itself through htmx. Here: send
// the version it shows (If-None-Match from data-etag) so an unchanged queue answers 304 with
// no body, swap nothing on 304, skip polls while the tab is hidden, and refresh at once
// when it is shown again.
(function () {
  "use strict";
  function isTable(el) { return el && el.id === "request-table"; }
  document.addEventListener("htmx:configRequest", function (e) {
    var el = e.detail.elt;
    if (isTable(el) && el.dataset.etag) e.detail.headers["If-None-Match"] = el.dataset.etag;
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (isTable(e.detail.elt) && document.visibilityState === "hidden") e.preventDefault();
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (isTable(e.detail.elt) && e.detail.xhr.status === 304) e.detail.shouldSwap = false;
  });
  // The queue changed: the bar's counts should say the same as the table.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (isTable(e.detail.elt) && document.getElementById("officer-badges")) {
      htmx.ajax("GET", "/officer/badges", {target: "#officer-badges", swap: "outerHTML"});
    }
  });
  document.addEventListener("visibilitychange", function () {
    var table = document.getElementById("request-table");
    if (table && document.visibilityState === "visible" && window.htmx) {
      htmx.trigger(table, "lx-refresh");
    }
  });
})();
