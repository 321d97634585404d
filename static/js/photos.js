// Photos are shrunk on the phone before they are sent or queued: at most 1600 px on the long
// side and about 300 KB, so an upload survives a 2G link and the outbox stays small.
(function () {
  "use strict";
  var MAX_SIDE = 1600, TARGET = 300 * 1024;

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

  document.addEventListener("change", async function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.maxPhotos) return;
    var max = parseInt(input.dataset.maxPhotos, 10);
    var files = Array.prototype.slice.call(input.files || [], 0, max);
    input.dataset.shrinking = "1";
    try {
      var out = new DataTransfer();
      for (var i = 0; i < files.length; i++) {
        try { out.items.add(await shrink(files[i])); } catch (e) { out.items.add(files[i]); }
      }
      input.files = out.files;
    } finally {
      delete input.dataset.shrinking;
      input.dispatchEvent(new CustomEvent("lianxin:photos-ready", { bubbles: true }));
    }
  });
})();
