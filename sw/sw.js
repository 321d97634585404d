/* Lianxin service worker. Served at /sw.js; the server fills in VERSION and PRECACHE. */
"use strict";
const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
importScripts("__OUTBOX__");
const SHELL_CACHE = "lx-shell-" + VERSION;
const PAGE_CACHE = "lx-pages-" + VERSION;
// Pages with other people's data never go into a cache.
const NEVER_CACHE = [/^\/officer(?!\/enrol$)(\/|$)/, /^\/healthz$/, /^\/lang$/];
const OFFLINE_URL = "/offline";
// A worker's notices stay readable with no signal, but only the latest ones they opened.
const NOTICE_PAGE = /^\/notices\/\d+$/;
// …with their photo, kept and dropped together with the page.
const NOTICE_PHOTO = /^\/notices\/\d+\/photo$/;
const KEEP_NOTICES = 20;
// A form that signs a (possibly different) member in on this phone: the pages cached for the
// previous one must not be shown to the next, so the page cache is emptied when it is sent.
const MEMBER_CHANGES = [/^\/join\/[^/]+$/, /^\/me\/rebind$/];
// An officer's queue and the requests they opened stay readable with no signal (issue 11),
// for that officer only: each page is kept with the server's key of the officer's session
// (X-Lianxin-Officer-Cache), served offline only while that is still the session this
// phone last saw, and all of them are dropped at any officer sign-in or sign-out.
const OFFICER_CACHE = "lx-officer-" + VERSION;
const OFFICER_PAGES = [/^\/officer\/requests$/, /^\/officer\/requests\/\d+$/];
const OFFICER_CHANGES = [/^\/officer\/login$/, /^\/officer\/logout$/];
const OFFICER_KEY = "X-Lianxin-Officer-Cache";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(PRECACHE)));
  // No skipWaiting here: the page shows "new version — reload" and asks for it.
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const keep = new Set([SHELL_CACHE, PAGE_CACHE, OFFICER_CACHE]);
    for (const key of await caches.keys()) {
      if (key.startsWith("lx-") && !keep.has(key)) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "SKIP_WAITING") self.skipWaiting();
  if (data.type === "VERSION" && event.ports[0]) event.ports[0].postMessage(VERSION);
  if (data.type === "WARM" && Array.isArray(data.urls)) event.waitUntil(warm(data.urls));
  if (data.type === "FLUSH") event.waitUntil(flushOutbox());
});

// A worker's own pages, fetched while there is signal so they open on site without it.
async function warm(urls) {
  const cache = await caches.open(PAGE_CACHE);
  await Promise.all(urls.map(async (url) => {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok && !response.redirected) await cache.put(url, response);
    } catch (err) { /* no signal: keep what we had */ }
  }));
}

async function flushOutbox() {
  const results = await self.LianxinOutbox.flush({ wait: true });
  const clients = await self.clients.matchAll({ includeUncontrolled: true });
  clients.forEach((client) => client.postMessage({ type: "OUTBOX_FLUSHED", count: results.length }));
  // Background Sync retries the event when it rejects: do so while items still wait.
  const left = (await self.LianxinOutbox.all()).filter((i) => i.status === "pending");
  if (left.length) throw new Error(left.length + " items still waiting");
}

self.addEventListener("sync", (event) => {
  if (event.tag === "lianxin-outbox") event.waitUntil(flushOutbox());
});

function neverCache(url) {
  return NEVER_CACHE.some((re) => re.test(url.pathname));
}

async function networkFirst(request, fallback = OFFLINE_URL) {
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    // A redirect (a lapsed sign-in sent to the login page) is not the page asked for.
    if (response.ok && !response.redirected && !neverCache(url) &&
        request.headers.get("HX-Request") !== "true") {
      const cache = await caches.open(PAGE_CACHE);
      // Keyed by URL only: Vary: Cookie must not hide the copy from the offline visit.
      await cache.put(url.pathname + url.search, response.clone());
      if (NOTICE_PAGE.test(url.pathname)) await trimNotices(cache, url.pathname);
    }
    return response;
  } catch (err) {
    const cached = (await caches.match(url.pathname + url.search, { ignoreVary: true })) ||
      (fallback && (await caches.match(fallback, { ignoreVary: true })));
    if (cached) return cached;
    throw err;
  }
}

// Only the notice pages opened last are kept (the cache API lists keys in insertion order).
// Pages are not fetched ahead from the inbox: opening a notice records a read receipt, and a
// worker who never opened one must not be counted as having read it.
async function trimNotices(cache, justOpened) {
  const notices = (await cache.keys()).map((r) => new URL(r.url).pathname)
    .filter((p) => NOTICE_PAGE.test(p) && p !== justOpened);
  const extra = notices.length + 1 - KEEP_NOTICES;
  for (const path of notices.slice(0, Math.max(extra, 0))) {
    await cache.delete(path);
    await cache.delete(path + "/photo");
  }
}

async function forgetOfficer() {
  await caches.delete(OFFICER_CACHE);
  await self.LianxinOutbox.setMeta("officerCacheKey", "");
}

async function officerPage(request) {
  const url = new URL(request.url);
  const key = url.pathname + url.search;
  try {
    const response = await fetch(request);
    const owner = response.headers.get(OFFICER_KEY) || "";
    if (response.ok && !response.redirected && owner && request.headers.get("HX-Request") !== "true") {
      // Another officer's session on this phone: nothing of the one before stays.
      if ((await self.LianxinOutbox.getMeta("officerCacheKey")) !== owner) {
        await caches.delete(OFFICER_CACHE);
        await self.LianxinOutbox.setMeta("officerCacheKey", owner);
      }
      await (await caches.open(OFFICER_CACHE)).put(key, response.clone());
    }
    return response;
  } catch (err) {
    const cached = await (await caches.open(OFFICER_CACHE)).match(key, { ignoreVary: true });
    const current = await self.LianxinOutbox.getMeta("officerCacheKey");
    if (cached && current && cached.headers.get(OFFICER_KEY) === current) return cached;
    const offline = await caches.match(OFFLINE_URL, { ignoreVary: true });
    if (offline) return offline;
    throw err;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) (await caches.open(SHELL_CACHE)).put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && MEMBER_CHANGES.some((re) => re.test(url.pathname))) {
    event.waitUntil(caches.delete(PAGE_CACHE));
    return;
  }
  if (request.method === "POST" && OFFICER_CHANGES.some((re) => re.test(url.pathname))) {
    event.waitUntil(forgetOfficer());
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname.startsWith("/static/") || url.pathname.startsWith("/pwa/")) {
    event.respondWith(cacheFirst(request));
  } else if (NOTICE_PHOTO.test(url.pathname)) {
    event.respondWith(networkFirst(request, null));
  } else if (request.mode === "navigate" || request.headers.get("Accept")?.includes("text/html")) {
    if (OFFICER_PAGES.some((re) => re.test(url.pathname))) {
      event.respondWith(officerPage(request));
      return;
    }
    if (neverCache(url)) return;
    event.respondWith(networkFirst(request));
  }
});

// --- Web Push -------------------------------------------------------------------------------
// The server's payload is {title, body, url, tag}: lock-screen lines chosen by the server
// (never a request's text or a filer's name) and the page to open.
const ICON = PRECACHE.find((u) => u.includes("icon-192")) || "";

function samePageUrl(raw) {
  // Only a path on this site: a payload must not send the phone elsewhere.
  return typeof raw === "string" && raw.startsWith("/") && !raw.startsWith("//") ? raw : "/inbox";
}

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (err) { data = {}; }
  const options = { body: data.body || "", icon: ICON, badge: ICON, data: { url: samePageUrl(data.url) } };
  if (data.tag) { options.tag = String(data.tag); options.renotify = true; }
  event.waitUntil(self.registration.showNotification(data.title || "连心桥", options));
});

// Focus a window of this site and show the page, or open one. Kept apart from the event so a
// test can run it with a notification from getNotifications().
async function openFromNotification(notification) {
  const url = new URL(samePageUrl(notification.data && notification.data.url), self.location.origin);
  notification.close();
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const client = windows.find((c) => new URL(c.url).origin === url.origin);
  if (client) {
    try { await client.focus(); } catch (err) { /* focusing needs the click's activation */ }
    if ("navigate" in client) {
      const moved = await client.navigate(url.href).catch(() => null);
      if (moved) return moved;
    }
  }
  return self.clients.openWindow(url.href);
}
self.openFromNotification = openFromNotification;

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(openFromNotification(event.notification));
});

// The push service replaced this browser's subscription (it expired, or the keys rotated):
// subscribe again with the server's key and hand the new one over, naming the old endpoint
// so the server drops it (only if it was this person's) and moves what was waiting for it.
// A service worker has no page to read the CSRF token from, and a token kept from an old
// page is stale after any sign-in: it asks GET /push/csrf, which answers the session's token
// to a signed-in browser only, and only to this origin's script (see server/routes/push.py).
function keyBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function renewSubscription(oldSubscription, newSubscription) {
  const key = (await (await fetch("/push/key", { credentials: "same-origin" })).text()).trim();
  const subscription = newSubscription || await self.registration.pushManager.getSubscription() ||
    await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const answer = await fetch("/push/csrf", { credentials: "same-origin", cache: "no-store" });
  if (!answer.ok) return null;  // signed out on this phone: nobody to deliver to
  const { csrf } = await answer.json();
  const body = subscription.toJSON();
  if (oldSubscription && oldSubscription.endpoint !== subscription.endpoint) body.old_endpoint = oldSubscription.endpoint;
  return fetch("/push/subscriptions", {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf }
  });
}
self.renewSubscription = renewSubscription;

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(renewSubscription(event.oldSubscription, event.newSubscription));
});
