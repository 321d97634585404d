/* Lianxin outbox: forms that could not reach the server wait in IndexedDB and are sent
 * exactly once. The same file runs in pages and in the service worker (importScripts), so
 * queued items move even where no service worker runs (iOS in-app browsers, WeChat).
 *
 * Exactly once rests on the server: every item carries the client_id its form was given, and
 * the server answers a repeated client_id like the first time without creating anything.
 * The outbox's job is to never lose an item and never give up on one silently.
 */
(function (scope) {
  "use strict";
  var DB_NAME = "lianxin-outbox";
  var DB_VERSION = 1; // bump with an upgrade step in open() when the item shape changes
  var STORE = "items";
  var META = "meta";
  var LOCK = "lianxin-outbox-flush";
  var MAX_BACKOFF_MS = 5 * 60 * 1000;

  function promisify(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  var dbPromise = null;
  function open() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function (event) {
        var db = request.result;
        if (event.oldVersion < 1) {
          var items = db.createObjectStore(STORE, { keyPath: "id" });
          items.createIndex("createdAt", "createdAt");
          db.createObjectStore(META, { keyPath: "key" });
        }
      };
      request.onsuccess = function () {
        var db = request.result;
        // Another tab upgrading the schema: let go so it can, and reopen next time.
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { dbPromise = null; reject(request.error); };
    });
    return dbPromise;
  }

  async function tx(stores, mode, work) {
    var db = await open();
    return new Promise(function (resolve, reject) {
      var t = db.transaction(stores, mode);
      var result;
      Promise.resolve(work(t)).then(function (r) { result = r; }, reject);
      t.oncomplete = function () { resolve(result); };
      t.onerror = function () { reject(t.error); };
      t.onabort = function () { reject(t.error || new Error("transaction aborted")); };
    });
  }

  function all() {
    return tx([STORE], "readonly", function (t) {
      return promisify(t.objectStore(STORE).index("createdAt").getAll());
    });
  }

  function get(id) {
    return tx([STORE], "readonly", function (t) { return promisify(t.objectStore(STORE).get(id)); });
  }

  function put(item) {
    return tx([STORE], "readwrite", function (t) { return promisify(t.objectStore(STORE).put(item)); });
  }

  function remove(id) {
    return tx([STORE], "readwrite", function (t) { return promisify(t.objectStore(STORE).delete(id)); });
  }

  async function getMeta(key) {
    var row = await tx([META], "readonly", function (t) { return promisify(t.objectStore(META).get(key)); });
    return row ? row.value : null;
  }

  function setMeta(key, value) {
    return tx([META], "readwrite", function (t) {
      return promisify(t.objectStore(META).put({ key: key, value: value }));
    });
  }

  // A form becomes an item: text fields as pairs, files as ArrayBuffers (Blobs in IndexedDB
  // are unreliable in some WebViews), so the item can be shown, edited and sent again.
  async function fromForm(form, kind, label) {
    var data = new FormData(form);
    var fields = [];
    var files = [];
    var entries = Array.from(data.entries());
    for (var i = 0; i < entries.length; i++) {
      var name = entries[i][0], value = entries[i][1];
      if (typeof value === "string") {
        fields.push([name, value]);
      } else if (value && value.size) {
        files.push({ field: name, filename: value.name, type: value.type, data: await value.arrayBuffer() });
      }
    }
    var clientId = data.get("client_id");
    return {
      id: String(clientId),
      url: new URL(form.getAttribute("action") || location.pathname, location.href).pathname,
      kind: kind,
      label: label,
      fields: fields,
      files: files,
      createdAt: Date.now(),
      attempts: 0,
      status: "pending", // pending | attention
      lastError: "",
      lastStatus: 0,
      nextAttemptAt: 0
    };
  }

  function toFormData(item, csrfToken) {
    var data = new FormData();
    item.fields.forEach(function (pair) {
      // A page sends with its own, current CSRF token: a token saved days ago may be stale.
      data.append(pair[0], pair[0] === "csrf_token" && csrfToken ? csrfToken : pair[1]);
    });
    item.files.forEach(function (f) {
      data.append(f.field, new Blob([f.data], { type: f.type }), f.filename);
    });
    return data;
  }

  function backoff(attempts) {
    return Math.min(MAX_BACKOFF_MS, 2000 * Math.pow(2, Math.max(0, attempts - 1)));
  }

  // The server's message for a refused item. Background sends ask for JSON
  // ({message, errors}) and keep its message on the item; a page that sends what the user
  // just pressed gets the form back as HTML and shows it in place (see app.js).
  function messageFrom(body, status) {
    try {
      var data = JSON.parse(body || "");
      if (data && typeof data.message === "string" && data.message) return data.message;
    } catch (e) { /* not JSON: a proxy's error page, say */ }
    return "HTTP " + status;
  }

  function conflictFrom(body) {
    try {
      var data = JSON.parse(body || "");
      return data && data.conflict && typeof data.conflict === "object" ? data.conflict : null;
    } catch (e) { return null; }
  }

  // What became of one item, as in the design's offline contract: 2xx/3xx → synced
  // (removed); 4xx → needs attention (kept with the server's message); 5xx or no network →
  // kept and retried later with back-off. Nothing is dropped here.
  async function synced(item, extra) {
    await remove(item.id);
    await setMeta("lastSync", Date.now());
    return Object.assign({ outcome: "synced", item: item }, extra || {});
  }

  async function retryLater(item, error, status) {
    item.attempts += 1;
    item.lastError = error;
    item.lastStatus = status;
    item.nextAttemptAt = Date.now() + backoff(item.attempts);
    await put(item);
    return { outcome: "retry", item: item };
  }

  async function needsAttention(item, message, status, extra) {
    item.attempts += 1;
    item.status = "attention";
    item.lastError = message;
    item.lastStatus = status;
    // An officer's action the request has moved past: what the server says it is now, so
    // the outbox page shows both states (docs/contract.md, "Officers offline").
    item.conflict = conflictFrom(extra && extra.html);
    await put(item);
    return Object.assign({ outcome: "attention", item: item, status: status }, extra || {});
  }

  function refused(status) {
    return status >= 400 && status < 500 && status !== 408 && status !== 429;
  }

  async function send(item, csrfToken, follow) {
    var response;
    try {
      response = await fetch(item.url, {
        method: "POST",
        body: toFormData(item, csrfToken),
        credentials: "same-origin",
        // In the background a redirect is enough to know it arrived; a page that sends what
        // the user just pressed follows it to show the result.
        redirect: follow ? "follow" : "manual",
        headers: follow ? { "X-Lianxin-Outbox": "1" }
          : { "X-Lianxin-Outbox": "1", "Accept": "application/json" }
      });
    } catch (err) {
      return retryLater(item, "network", 0);
    }
    if (response.ok || (response.status >= 300 && response.status < 400) || response.type === "opaqueredirect") {
      return synced(item, { url: response.url, response: response });
    }
    var html = "";
    try { html = await response.text(); } catch (e) { html = ""; }
    if (refused(response.status)) {
      return needsAttention(item, messageFrom(html, response.status), response.status, { html: html });
    }
    return retryLater(item, "HTTP " + response.status, response.status);
  }

  /* Queued new requests without photos travel together: one round trip and one server
   * transaction for up to BATCH_SIZE of them, which is what a day of filing from a basement
   * adds up to. The server answers each item with the status its own POST would have had.
   * A batch the server refuses as a whole (an older server, a lost session) is not judged:
   * its items go one by one, so each gets its own answer. */
  var BATCH_URLS = { "/requests/new": "/requests/sync" };
  var BATCH_SIZE = 100;
  var BATCH_BYTES = 512 * 1024;

  function field(item, name) {
    for (var i = 0; i < item.fields.length; i++) if (item.fields[i][0] === name) return item.fields[i][1];
    return "";
  }

  function batchable(item) {
    return !!BATCH_URLS[item.url] && item.files.length === 0;
  }

  async function sendBatch(items, csrfToken) {
    var response;
    try {
      response = await fetch(BATCH_URLS[items[0].url], {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRF-Token": csrfToken || field(items[0], "csrf_token"),
          "X-Lianxin-Outbox": "1"
        },
        body: JSON.stringify({ items: items.map(function (item) {
          return { id: item.id, fields: item.fields.filter(function (p) { return p[0] !== "csrf_token"; }) };
        }) })
      });
    } catch (err) {
      return Promise.all(items.map(function (item) { return retryLater(item, "network", 0); }));
    }
    if (!response.ok) {
      if (refused(response.status)) {
        var one = [];
        for (var i = 0; i < items.length; i++) one.push(await send(items[i], csrfToken));
        return one;
      }
      return Promise.all(items.map(function (item) {
        return retryLater(item, "HTTP " + response.status, response.status);
      }));
    }
    var answers = {};
    try {
      (await response.json()).results.forEach(function (r) { answers[r.id] = r; });
    } catch (e) {
      answers = {};
    }
    return Promise.all(items.map(function (item) {
      var answer = answers[item.id];
      if (!answer) return retryLater(item, "no answer", response.status);
      if (answer.status < 400) return synced(item, { url: answer.location });
      if (refused(answer.status)) return needsAttention(item, answer.message || ("HTTP " + answer.status), answer.status);
      return retryLater(item, "HTTP " + answer.status, answer.status);
    }));
  }

  // An officer's actions on one request go in the order they were taken (受理, then 回复,
  // then 办结), one after another: the server judges each against what came before it.
  var OFFICER_ACTION = /^(\/officer\/requests\/\d+)\/[a-z_]+$/;
  function inOrder(item) {
    var m = OFFICER_ACTION.exec(item.url);
    return m ? m[1] : "";
  }

  // Due items as units of work: batches of batchable items, an officer's actions on one
  // request in order, and everything else alone.
  function jobs(items) {
    var groups = {};
    var chains = {};
    var out = [];
    items.forEach(function (item) {
      var chain = inOrder(item);
      if (chain) {
        if (!chains[chain]) { chains[chain] = []; out.push(chains[chain]); }
        chains[chain].push(item);
        return;
      }
      if (!batchable(item)) { out.push([item]); return; }
      var group = groups[item.url];
      var size = JSON.stringify(item.fields).length * 3; // worst case UTF-8
      if (!group || group.items.length >= BATCH_SIZE || group.bytes + size > BATCH_BYTES) {
        group = groups[item.url] = { items: [], bytes: 0 };
        out.push(group.items);
      }
      group.items.push(item);
      group.bytes += size;
    });
    return out;
  }

  var PARALLEL = 4; // a few at once hides round trips on a slow link; order does not matter

  async function flushUnlocked(options) {
    var items = await all();
    var now = Date.now();
    var due = items.filter(function (item) {
      return item.status === "pending" && (options.force || item.nextAttemptAt <= now);
    });
    var results = [];
    async function run(group) {
      // Another flusher may have sent some since we listed: only send what is still queued.
      var current = [];
      for (var i = 0; i < group.length; i++) {
        var item = await get(group[i].id);
        if (item && item.status === "pending") current.push(item);
      }
      if (!current.length) return;
      var done = [];
      if (batchable(current[0])) {
        done = await sendBatch(current, options.csrfToken);
      } else {
        for (var j = 0; j < current.length; j++) {
          var one = await send(current[j], options.csrfToken);
          done.push(one);
          // The next of a chain waits for this one: no signal, or not applied yet.
          if (one.outcome === "retry") break;
        }
      }
      done.forEach(function (r) { results.push(r); });
    }
    var work = jobs(due);
    for (var i = 0; i < work.length; i += PARALLEL) {
      await Promise.all(work.slice(i, i + PARALLEL).map(run));
      // No network at all: stop here instead of failing every remaining item one by one.
      if (results.length && results.every(function (r) { return r.outcome === "retry" && r.item.lastError === "network"; })) break;
    }
    return results;
  }

  /* Tabs and the service worker take turns (Web Locks); without Web Locks each still sends,
   * and the server's client_id check keeps the result to one record per item. */
  function flush(options) {
    options = options || {};
    if (scope.navigator && scope.navigator.locks && scope.navigator.locks.request) {
      return scope.navigator.locks.request(LOCK, { ifAvailable: !options.wait }, function (lock) {
        if (!lock) return [];
        return flushUnlocked(options);
      });
    }
    return flushUnlocked(options);
  }

  async function summary() {
    var items = await all();
    return {
      pending: items.filter(function (i) { return i.status === "pending"; }).length,
      attention: items.filter(function (i) { return i.status === "attention"; }).length,
      total: items.length,
      lastSync: await getMeta("lastSync")
    };
  }

  async function resend(id, fields) {
    var item = await get(id);
    if (!item) return null;
    if (fields) {
      item.fields = item.fields.map(function (pair) {
        return Object.prototype.hasOwnProperty.call(fields, pair[0]) ? [pair[0], fields[pair[0]]] : pair;
      });
    }
    item.conflict = null;
    item.status = "pending";
    item.nextAttemptAt = 0;
    await put(item);
    return item;
  }

  // The items an officer queued (they carry queued_by): what signing out removes, so
  // nothing is sent later under whoever signs in next.
  async function officerItems() {
    return (await all()).filter(function (item) { return !!field(item, "queued_by"); });
  }

  scope.LianxinOutbox = {
    officerItems: officerItems,
    open: open, all: all, get: get, put: put, remove: remove, fromForm: fromForm, send: send,
    flush: flush, sendBatch: sendBatch, summary: summary, resend: resend, getMeta: getMeta, setMeta: setMeta,
    messageFrom: messageFrom, DB_NAME: DB_NAME, DB_VERSION: DB_VERSION
  };
})(typeof self !== "undefined" ? self : this);
