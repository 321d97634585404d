// Page-level behaviour: client ids, the outbox (queue, flush, indicator), the service worker.
// No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";
  var Outbox = window.LianxinOutbox;
  var T = {};
  try { T = JSON.parse(document.getElementById("lx-i18n").textContent); } catch (e) { T = {}; }
  function t(key, n) {
    var text = T[key] || key;
    if (typeof text === "object") text = n === 1 ? text.one : text.other;
    return text.replace("%(n)d", n);
  }
  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  // Each offline-capable form gets its idempotency key when shown, kept across error re-renders.
  function stampClientIds(root) {
    var inputs = (root || document).querySelectorAll("form[data-outbox] input[name=client_id]");
    Array.prototype.forEach.call(inputs, function (input) { if (!input.value) input.value = uuid4(); });
  }

  function when(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + ("0" + (d.getMonth() + 1)).slice(-2) + "-" + ("0" + d.getDate()).slice(-2) +
      " " + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  // Why a queued item has not gone yet, in words a worker reads (never "(network)").
  function reason(item) {
    if (item.status === "attention") return t("needsAttention") + " " + item.lastError;
    if (!item.attempts) return t("reasonWaiting");
    if (item.lastError === "network" || !item.lastStatus) return t("reasonNetwork");
    if (item.lastStatus === 429) return t("reasonBusy");
    return t("reasonServer");
  }

  // --- indicator ------------------------------------------------------------------------------
  function timeText(ms) {
    if (!ms) return t("never");
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  async function refreshIndicator() {
    var bar = document.getElementById("outbox-status");
    if (!bar || !Outbox) return;
    var s;
    try { s = await Outbox.summary(); } catch (e) { return; }
    // Always visible once this phone has queued anything: how many wait, when it last synced.
    bar.hidden = s.total === 0 && !s.lastSync;
    bar.querySelector("[data-pending]").textContent = t("pending", s.pending);
    var attention = bar.querySelector("[data-attention]");
    attention.hidden = s.attention === 0;
    attention.textContent = t("attention", s.attention);
    bar.querySelector("[data-last-sync]").textContent = t("lastSync") + " " + timeText(s.lastSync);
    document.dispatchEvent(new CustomEvent("lianxin:outbox-changed", { detail: s }));
  }

  var flushing = null;
  function flush(force) {
    if (!Outbox) return Promise.resolve([]);
    if (flushing) {
      // One at a time per tab; a forced flush still runs, after the one in progress.
      return force ? flushing.then(function () { return flush(true); }) : flushing;
    }
    // A forced flush (the user asked, or the network came back) waits for its turn; the timer
    // just skips a turn when another tab or the service worker is already sending.
    flushing = Outbox.flush({ csrfToken: csrf(), force: !!force, wait: !!force })
      .catch(function () { return []; })
      .then(function (results) {
        flushing = null;
        refreshIndicator();
        // No network at all: every other waiting item would fail the same way, so the next
        // try waits for the back-off of those just tried (or the "online" event).
        var offline = results.length && results.every(function (r) {
          return r.outcome === "retry" && r.item.lastError === "network";
        });
        scheduleNext(offline ? Math.min.apply(null, results.map(function (r) { return r.item.nextAttemptAt; })) : 0);
        return results;
      });
    return flushing;
  }

  // While a page is open, the next try is when the earliest waiting item is due (its
  // back-off), checked at least every 15 s: an item that failed a moment ago goes again in
  // seconds, not at the next fixed tick.
  var timer = null;
  function scheduleNext(notBefore) {
    if (!Outbox) return;
    Outbox.all().then(function (items) {
      var due = items.filter(function (i) { return i.status === "pending"; })
        .map(function (i) { return i.nextAttemptAt || 0; });
      var wait = due.length ? Math.max(Math.min.apply(null, due), notBefore || 0) - Date.now() : 15000;
      clearTimeout(timer);
      timer = setTimeout(function () { flush(false); }, Math.max(1000, Math.min(15000, wait)));
    }).catch(function () {});
  }

  // --- submitting an offline-capable form ---------------------------------------------------
  function excerpt(form) {
    var field = form.querySelector("[name=name]") || form.querySelector("[name=description]") ||
      form.querySelector("[name=title]") || form.querySelector("[name=note]");
    return field && field.value ? field.value.slice(0, 24) : "";
  }
  function labelFor(form) {
    return ((form.dataset.outboxLabel || "") + " " + excerpt(form)).trim();
  }

  function swapMain(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var incoming = doc.getElementById("main");
    var main = document.getElementById("main");
    if (incoming && main) {
      // The photos chosen go back into the form that came back: nothing to choose again.
      var photos = window.LianxinPhotos ? window.LianxinPhotos.keep(main) : null;
      main.innerHTML = incoming.innerHTML;
      if (photos) window.LianxinPhotos.restore(main, photos);
      stampClientIds(main);
      if (window.htmx) htmx.process(main);
      showAlert(main);
    }
  }

  function showSaved(form) {
    var note = document.createElement("div");
    note.className = "saved-note";
    note.setAttribute("role", "status");
    note.innerHTML = "";
    var strong = document.createElement("strong");
    strong.textContent = t("saved");
    var link = document.createElement("a");
    link.href = "/outbox";
    link.textContent = t("viewQueue");
    note.appendChild(strong);
    note.appendChild(document.createTextNode(" "));
    note.appendChild(link);
    var old = form.parentNode.querySelector(".saved-note");
    if (old) old.remove();
    form.parentNode.insertBefore(note, form);
    // The next person (assisted enrolment) or the next request gets a fresh form and key.
    form.reset();
    var id = form.querySelector("input[name=client_id]");
    if (id) id.value = uuid4();
    var counter = document.querySelector("[data-saved-count]");
    if (counter) counter.textContent = String(parseInt(counter.textContent || "0", 10) + 1);
    note.scrollIntoView({ block: "center" });
  }

  async function onSubmit(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-outbox") || !Outbox) return;
    event.preventDefault();
    var photos = form.querySelector("input[type=file][data-shrinking]");
    if (photos) {
      await new Promise(function (resolve) { form.addEventListener("lianxin:photos-ready", resolve, { once: true }); });
    }
    stampClientIds(form);
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      var item = await Outbox.fromForm(form, form.dataset.outbox, labelFor(form));
      item.labelName = form.dataset.outboxName || form.dataset.outbox;
      item.labelSubject = form.dataset.outboxSubject || "";
      item.labelText = excerpt(form);
      await Outbox.put(item); // durable before the first byte goes out
      var result = await Outbox.send(item, csrf(), true);
      if (result.outcome === "synced") {
        var target = result.url || location.href;
        if (form.dataset.outboxStay !== undefined) {
          showSaved(form);
          var note = form.parentNode.querySelector(".saved-note strong");
          if (note) note.textContent = t("sent");
        } else {
          location.assign(target);
        }
      } else if (result.outcome === "attention") {
        // The user is right here: show the server's answer in place, nothing stays queued.
        await Outbox.remove(item.id);
        swapMain(result.html);
      } else {
        showSaved(form);
        registerSync();
      }
    } catch (err) {
      // IndexedDB itself failed (private mode, quota): let the browser post the form.
      form.removeAttribute("data-outbox");
      form.submit();
      return;
    } finally {
      if (button) button.disabled = false;
      refreshIndicator();
    }
  }

  // --- service worker ---------------------------------------------------------------------
  function registerSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.sync) return reg.sync.register("lianxin-outbox");
    }).catch(function () {});
  }

  function showUpdate(worker) {
    var banner = document.getElementById("update-banner");
    if (!banner) return;
    banner.hidden = false;
    banner.querySelector("button").onclick = function () { worker.postMessage({ type: "SKIP_WAITING" }); };
  }

  function setUpServiceWorker() {
    if (!("serviceWorker" in navigator)) return;
    var reloading = false;
    // The first install claims this page too; only a replaced worker means a new version.
    var hadController = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      if (reloading || !hadController) return;
      reloading = true;
      location.reload();
    });
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "OUTBOX_FLUSHED") refreshIndicator();
    });
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      if (reg.waiting && navigator.serviceWorker.controller) showUpdate(reg.waiting);
      reg.addEventListener("updatefound", function () {
        var worker = reg.installing;
        if (!worker) return;
        worker.addEventListener("statechange", function () {
          if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdate(worker);
        });
      });
      if (document.body.dataset.member === "1") {
        navigator.serviceWorker.ready.then(function (ready) {
          // Keep the worker's own pages ready for a visit with no signal, with the script
          // only those pages load (the voice recorder): not in every first visit's bytes.
          var extra = (document.body.dataset.warm || "").split(" ").filter(Boolean);
          if (ready.active) ready.active.postMessage({ type: "WARM", urls: ["/me", "/me/card", "/requests", "/requests/new"].concat(extra) });
        });
      }
    }).catch(function () {});
  }

  // Install hint: Chromium offers "add to home screen" through this event; others ignore it.
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    var hint = document.getElementById("install-hint");
    if (!hint) return;
    hint.hidden = false;
    hint.querySelector("button").onclick = function () {
      hint.hidden = true;
      event.prompt();
    };
  });

  // Signing out: the officer's queued actions and cached pages go with them, so whoever
  // signs in next on this phone neither sees them nor sends them. Asked first when any are
  // still waiting (the service worker empties its officer cache on this POST as well).
  var leaving = false;
  async function onLogout(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.getAttribute("action") !== "/officer/logout") return;
    if (leaving) return;
    event.preventDefault();
    var mine = [];
    try { mine = Outbox ? await Outbox.officerItems() : []; } catch (e) { mine = []; }
    if (mine.length && !window.confirm(t("logoutPending", mine.length))) return;
    try {
      for (var i = 0; i < mine.length; i++) await Outbox.remove(mine[i].id);
      if (window.caches) {
        var names = await caches.keys();
        await Promise.all(names.filter(function (n) { return n.indexOf("lx-officer-") === 0; })
          .map(function (n) { return caches.delete(n); }));
      }
    } catch (e) { /* storage unavailable: the service worker and the server still act */ }
    leaving = true;
    form.submit();
  }
  document.addEventListener("submit", onLogout);
  document.addEventListener("submit", onSubmit);
  // A refused form says why next to the button that was pressed: make sure that is on the
  // screen (a swapped panel or a re-rendered page would otherwise leave it out of view).
  function showAlert(root) {
    var alert = root && (root.querySelector("[data-summary]") || root.querySelector("[role=alert]:not([hidden])"));
    if (!alert) return;
    var r = alert.getBoundingClientRect();
    if (r.top < 60 || r.bottom > window.innerHeight) alert.scrollIntoView({ block: "center" });
  }

  // The officer's section strip scrolls sideways on a phone: show the current section.
  function showCurrentTab() {
    var current = document.querySelector(".tabs [aria-current]");
    if (!current) return;
    var strip = current.parentNode;
    strip.scrollLeft = current.offsetLeft - strip.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2;
  }

  document.addEventListener("DOMContentLoaded", function () {
    stampClientIds(document);
    showCurrentTab();
    showAlert(document.getElementById("main"));
    setUpServiceWorker();
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
    refreshIndicator();
    flush(false);
  });
  document.addEventListener("htmx:afterSwap", function (e) { stampClientIds(e.target); });
  document.addEventListener("htmx:afterSettle", function (e) {
    var target = e.detail && e.detail.target;
    showAlert((target && target.id && document.getElementById(target.id)) || e.target);
  });
  window.addEventListener("online", function () { flush(true); });
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") flush(false); });

  window.Lianxin = { uuid4: uuid4, flush: flush, refreshIndicator: refreshIndicator, t: t, csrf: csrf,
                     when: when, reason: reason };
})();
