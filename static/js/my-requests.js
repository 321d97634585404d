// "My requests" also lists what this phone filed but could not send yet: saved in the outbox,
// shown first, marked "waiting to send" with the reason in plain words, never lost from view.
(function () {
  "use strict";
  var Outbox = window.LianxinOutbox;
  var list = document.getElementById("my-request-list");
  if (!list || !Outbox || !window.Lianxin) return;
  var t = window.Lianxin.t;
  var names = {};
  try { names = JSON.parse(document.getElementById("lx-categories").textContent); } catch (e) { names = {}; }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function field(item, name) {
    for (var i = 0; i < item.fields.length; i++) if (item.fields[i][0] === name) return item.fields[i][1];
    return "";
  }

  async function render() {
    var items;
    try { items = await Outbox.all(); } catch (e) { return; }
    Array.prototype.forEach.call(list.querySelectorAll(".queued"), function (li) { li.remove(); });
    var queued = items.filter(function (i) { return i.kind === "request"; });
    var empty = document.getElementById("no-requests");
    if (empty) empty.hidden = queued.length > 0;
    queued.reverse().forEach(function (item) {
      var li = el("li", "item queued");
      li.dataset.outboxId = item.id;
      var row = el("a", "req-row");
      row.href = "/outbox";
      var head = el("span", "req-head");
      head.appendChild(el("strong", "", names[field(item, "category")] || item.label));
      var badge = el("span", "badge " + (item.status === "attention" ? "badge-bad" : "badge-wait"),
        item.status === "attention" ? t("needsAttention") : t("queued"));
      head.appendChild(badge);
      row.appendChild(head);
      var text = field(item, "description");
      row.appendChild(el("span", "req-text", text.length > 60 ? text.slice(0, 60) + "…" : text));
      row.appendChild(el("span", "req-meta muted", t("savedAt") + " " + window.Lianxin.when(item.createdAt)));
      row.appendChild(el("span", "req-meta " + (item.status === "attention" ? "error" : "muted"), window.Lianxin.reason(item)));
      li.appendChild(row);
      list.insertBefore(li, list.firstChild);
    });
  }

  document.addEventListener("lianxin:outbox-changed", render);
  render();
})();
