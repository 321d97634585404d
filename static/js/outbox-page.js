// The "waiting to send" page: every queued item, its state and the server's message, with
// send-now, edit-and-resend (for items the server refused) and discard (after confirming).
(function () {
  "use strict";
  var Outbox = window.LianxinOutbox;
  var list = document.getElementById("outbox-list");
  if (!list || !Outbox) return;
  var t = function (k, n) { return window.Lianxin ? window.Lianxin.t(k, n) : k; };
  var HIDDEN = { csrf_token: 1, client_id: 1, consent: 1, seen: 1, queued_by: 1, action: 1 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var when = function (ms) { return window.Lianxin.when(ms); };

  var NAMES = {};
  try { NAMES = JSON.parse(document.getElementById("lx-outbox-names").textContent); } catch (e) { NAMES = {}; }
  // An item's name in the language of this page (the language can change between queueing
  // and looking): its kind's word, the subject (a name, "#12") and what was typed; the words
  // stored at queueing for an item queued before names were kept.
  function itemLabel(item) {
    var name = item.labelName && NAMES[item.labelName];
    if (!name) return item.label || item.kind;
    var subject = item.labelSubject || "";
    var parts = subject.charAt(0) === "#" ? [subject, name] : [name, subject];
    parts.push(item.labelText || "");
    return parts.filter(function (p) { return p; }).join(" ");
  }
  window.LianxinOutboxLabel = itemLabel;

  function editor(item) {
    var form = el("form", "form outbox-edit");
    item.fields.forEach(function (pair) {
      if (HIDDEN[pair[0]]) return;
      var field = el("div", "field");
      var label = el("label", "", pair[0]);
      var input = pair[1].length > 60 ? el("textarea") : el("input");
      input.name = pair[0];
      input.value = pair[1];
      label.htmlFor = input.id = "edit-" + item.id + "-" + pair[0];
      field.appendChild(label);
      field.appendChild(input);
      form.appendChild(field);
    });
    var save = el("button", "btn btn-primary", t("resend"));
    save.type = "submit";
    form.appendChild(save);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (input) { if (input.name) fields[input.name] = input.value; });
      await Outbox.resend(item.id, fields);
      await window.Lianxin.flush(true);
      render();
    });
    return form;
  }

  // Both states of an officer's action the request moved past: what was queued, and
  // what the request is now (with what happened since).
  function states(conflict) {
    var box = el("div", "states");
    var mine = el("div", "state-queued");
    mine.appendChild(el("strong", "", t("youQueued")));
    mine.appendChild(el("p", "", conflict.queued.label + (conflict.queued.note ? "：" + conflict.queued.note : "")));
    var now = el("div", "state-now");
    now.appendChild(el("strong", "", t("requestNow")));
    now.appendChild(el("p", "", conflict.now.status_label));
    var since = el("ul", "since");
    (conflict.now.since || []).forEach(function (e) {
      since.appendChild(el("li", "", e.when + " " + e.what + " · " + e.who + (e.note ? "：" + e.note : "")));
    });
    now.appendChild(since);
    box.appendChild(mine);
    box.appendChild(now);
    return box;
  }

  async function render() {
    var items = await Outbox.all();
    list.textContent = "";
    document.getElementById("outbox-empty").hidden = items.length > 0;
    items.forEach(function (item) {
      var li = el("li", "item outbox-item " + item.status);
      li.dataset.id = item.id;
      li.appendChild(el("strong", "", itemLabel(item)));
      li.appendChild(el("span", "muted", when(item.createdAt) + " · " + t("attempts", item.attempts)));
      li.appendChild(el("p", item.status === "attention" ? "error" : "muted", window.Lianxin.reason(item)));
      var conflict = item.status === "attention" ? item.conflict : null;
      if (conflict) li.appendChild(states(conflict));
      var actions = el("div", "item-actions");
      var send = el("button", "btn", t("sendNow"));
      send.type = "button";
      send.addEventListener("click", async function () {
        await Outbox.resend(item.id, null);
        await window.Lianxin.flush(true);
        render();
      });
      var edit = el("button", "btn", t("edit"));
      edit.type = "button";
      edit.hidden = item.status !== "attention";
      edit.addEventListener("click", function () { li.appendChild(editor(item)); edit.hidden = true; });
      var discard = el("button", "btn btn-quiet", t("discard"));
      discard.type = "button";
      discard.addEventListener("click", async function () {
        if (!window.confirm(t("confirmDiscard"))) return;
        await Outbox.remove(item.id);
        window.Lianxin.refreshIndicator();
        render();
      });
      if (conflict) {
        // Sending it as it was would meet the same answer: re-apply means "I have seen what
        // changed", so it goes with the request as it is now; or open the request.
        send.hidden = true;
        edit.hidden = true;
        var again = el("button", "btn btn-primary", t("reapply"));
        again.type = "button";
        again.hidden = !conflict.may_retry;
        again.addEventListener("click", async function () {
          await Outbox.resend(item.id, { seen: String(conflict.now.last_event_id) });
          await window.Lianxin.flush(true);
          render();
        });
        var open = el("a", "btn", t("openRequest"));
        open.href = conflict.url;
        actions.appendChild(again);
        actions.appendChild(open);
      }
      actions.appendChild(send);
      actions.appendChild(edit);
      actions.appendChild(discard);
      li.appendChild(actions);
      list.appendChild(li);
    });
  }

  document.addEventListener("lianxin:outbox-changed", render);
  render();
})();
