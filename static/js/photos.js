// Photos are shrunk on the phone before they are sent or queued: at most 1600 px on the long
// side and about 300 KB, so an upload survives a 2G link and the outbox stays small.
//
// The input keeps every photo chosen so far (choosing again adds to them), shows each as a
// thumbnail with its own remove button, and refuses a choice that would go over the limit
// with a message, keeping the photos already there: nothing is dropped without a word.
(function () {
  "use strict";
  var MAX_SIDE = 1600, TARGET = 300 * 1024;
  var chosen = new WeakMap(); // input -> File[] kept so far

  function t(key) { return window.Lianxin ? window.Lianxin.t(key) : key; }

  function loadImage(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      img.src = url;
    });
  }

  function toBlob(canvas, quality) {
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
  }

  async function shrink(file) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type)) return file;
    var img = await loadImage(file);
    var scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    if (scale === 1 && file.size <= TARGET) return file;
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(img.naturalWidth * scale);
    canvas.height = Math.round(img.naturalHeight * scale);
    canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
    var blob = null;
    for (var q = 0.82; q >= 0.4; q -= 0.14) {
      blob = await toBlob(canvas, q);
      if (blob && blob.size <= TARGET) break;
    }
    if (!blob) return file;
    var name = (file.name || "photo").replace(/\.\w+$/, "") + ".jpg";
    return new File([blob], name, { type: "image/jpeg", lastModified: Date.now() });
  }

  function field(input) { return input.closest(".photo-field"); }

  function setFiles(input, files) {
    var out = new DataTransfer();
    files.forEach(function (f) { out.items.add(f); });
    input.files = out.files;
    chosen.set(input, files.slice());
    render(input);
  }

  function say(input, text) {
    var box = field(input) && field(input).querySelector(".photo-limit");
    if (!box) return;
    box.hidden = !text;
    box.querySelector("span").textContent = text || "";
  }

  function render(input) {
    var list = field(input) && field(input).querySelector(".photo-previews");
    if (!list) return;
    Array.prototype.forEach.call(list.querySelectorAll("img"), function (img) { URL.revokeObjectURL(img.src); });
    list.textContent = "";
    (chosen.get(input) || []).forEach(function (file, i) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = t("photo") + " " + (i + 1);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-quiet";
      remove.textContent = t("removePhoto");
      remove.addEventListener("click", function () {
        var files = (chosen.get(input) || []).slice();
        files.splice(i, 1);
        say(input, "");
        setFiles(input, files);
      });
      li.appendChild(img);
      li.appendChild(remove);
      list.appendChild(li);
    });
  }

  async function onChange(input) {
    var max = parseInt(input.dataset.maxPhotos, 10);
    var kept = chosen.get(input) || [];
    var picked = Array.prototype.slice.call(input.files || []);
    if (kept.length + picked.length > max) {
      // Refused as a whole, with the numbers: the photos already chosen stay as they were.
      say(input, t("photoLimit").replace("%(max)d", max).replace("%(n)d", picked.length)
        .replace("%(have)d", kept.length));
      setFiles(input, kept);
      input.dispatchEvent(new CustomEvent("lianxin:photos-ready", { bubbles: true }));
      return;
    }
    say(input, "");
    input.dataset.shrinking = "1";
    try {
      var added = [];
      for (var i = 0; i < picked.length; i++) {
        try { added.push(await shrink(picked[i])); } catch (e) { added.push(picked[i]); }
      }
      setFiles(input, kept.concat(added));
    } finally {
      delete input.dataset.shrinking;
      input.dispatchEvent(new CustomEvent("lianxin:photos-ready", { bubbles: true }));
    }
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.maxPhotos) return;
    onChange(input);
  });

  // A form that was sent or saved starts empty again; its thumbnails go with it.
  document.addEventListener("reset", function (event) {
    var inputs = event.target.querySelectorAll ? event.target.querySelectorAll("input[data-max-photos]") : [];
    Array.prototype.forEach.call(inputs, function (input) { chosen.set(input, []); say(input, ""); render(input); });
  });

  function enhance(root) {
    var inputs = (root || document).querySelectorAll(".photo-field input[data-max-photos]");
    Array.prototype.forEach.call(inputs, function (input) {
      var box = field(input);
      if (!box || box.classList.contains("ready")) return;
      box.classList.add("ready");
      var button = box.querySelector(".btn-photo");
      if (button) button.hidden = false;
    });
  }

  // Photos chosen before a form came back refused (swapped in by app.js) are put back.
  window.LianxinPhotos = {
    enhance: enhance,
    keep: function (root) {
      var kept = {};
      Array.prototype.forEach.call((root || document).querySelectorAll("input[data-max-photos]"), function (input) {
        kept[input.name] = (chosen.get(input) || Array.prototype.slice.call(input.files || [])).slice();
      });
      return kept;
    },
    restore: function (root, kept) {
      enhance(root);
      Array.prototype.forEach.call((root || document).querySelectorAll("input[data-max-photos]"), function (input) {
        if (kept[input.name] && kept[input.name].length) setFiles(input, kept[input.name]);
      });
    }
  };

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function (e) { enhance(e.target); });
})();
