/* The member card renews itself. Offline, the page is the copy the service worker kept,
   and says so when that copy has expired; once there is signal again it reloads, and the
   network-first page brings a freshly signed card (server.services.cards). */
(function () {
  "use strict";
  var RELOAD_KEY = "lx-card-reloaded";
  var card = document.getElementById("card");
  if (!card) return;
  var expires = Date.parse(card.dataset.expires || "");
  var shown = Date.parse(card.dataset.shownAt || "");

  function markExpired() {
    var note = document.getElementById("card-expired");
    if (note) note.hidden = !(Date.now() >= expires);
  }

  function renew(olderThanMs) {
    if (!navigator.onLine || isNaN(shown) || Date.now() - shown < olderThanMs) return;
    // On weak signal the reload may bring the same cached copy back: try once in 5 minutes.
    var last = Number(sessionStorage.getItem(RELOAD_KEY) || 0);
    if (Date.now() - last < 5 * 60 * 1000) return;
    sessionStorage.setItem(RELOAD_KEY, String(Date.now()));
    location.reload();
  }

  markExpired();
  renew(60 * 60 * 1000);
  window.addEventListener("online", function () { renew(60 * 1000); });
  setInterval(markExpired, 60 * 1000);
})();
