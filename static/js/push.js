// The inbox's "开启手机通知": asks for permission, subscribes this browser with the server's
// VAPID key and hands the subscription to the server. Shown only where the browser can push.
(function () {
  "use strict";
  var box = document.getElementById("push-optin");
  if (!box) return;
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  var on = box.querySelector("[data-push=on]");
  var off = box.querySelector("[data-push=off]");

  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }
  function state(name, message) {
    Array.prototype.forEach.call(box.querySelectorAll(".push-status"), function (p) {
      p.hidden = p.getAttribute("data-state") !== name;
      if (!p.hidden && message) p.textContent = message;
    });
    on.hidden = name === "on";
    off.hidden = name !== "on";
  }
  function keyBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  async function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() }
    });
  }
  async function registration() { return navigator.serviceWorker.ready; }

  async function subscribe() {
    on.disabled = true;
    try {
      var permission = await Notification.requestPermission();
      if (permission !== "granted") { state("denied"); return; }
      var key = await (await fetch("/push/key", { credentials: "same-origin" })).text();
      var reg = await registration();
      var sub = await reg.pushManager.getSubscription() ||
        await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key.trim()) });
      var response = await post("/push/subscriptions", sub.toJSON());
      if (!response.ok) {
        var answer = {};
        try { answer = await response.json(); } catch (e) { answer = {}; }
        await sub.unsubscribe();
        state("error", answer.error || answer.message);
        return;
      }
      state("on");
    } catch (err) {
      state("error");
    } finally {
      on.disabled = false;
    }
  }
  async function unsubscribe() {
    try {
      var sub = await (await registration()).pushManager.getSubscription();
      if (sub) {
        await post("/push/subscriptions/delete", { endpoint: sub.endpoint });
        await sub.unsubscribe();
      }
    } catch (err) { /* offline: the server drops it at the next failed send */ }
    state("off");
  }

  box.hidden = false;
  on.addEventListener("click", subscribe);
  off.addEventListener("click", unsubscribe);
  if (Notification.permission === "denied") { state("denied"); return; }
  registration().then(function (reg) { return reg.pushManager.getSubscription(); })
    .then(function (sub) { state(sub ? "on" : "off"); })
    .catch(function () { state("off"); });
})();
