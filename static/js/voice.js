// Voice messages: record with MediaRecorder in whatever this browser makes (WebM/Opus,
// Ogg/Opus, MP4) into the form's own file input `voice`, so the recording is posted, queued
// offline (as an ArrayBuffer, like a photo) and re-sent with no special case anywhere else.
// Where MediaRecorder is missing (old WebViews) the file input stays: on a phone it opens
// the recorder app. Loaded only by the pages that record (Permissions-Policy allows the
// microphone there alone).
(function () {
  "use strict";
  var TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm", "audio/ogg"];
  var EXT = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };
  // 32 kbit/s is clear speech in Opus or AAC: 90 s come to about 360 KB, well within 1 MB.
  var BITS_PER_SECOND = 32000;
  function t(key) { return window.Lianxin ? window.Lianxin.t(key) : key; }

  function supported() {
    if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return false;
    try { new DataTransfer(); } catch (e) { return false; } // to put the recording into the input
    return window.isSecureContext !== false;
  }

  function pickType() {
    if (!MediaRecorder.isTypeSupported) return "";
    for (var i = 0; i < TYPES.length; i++) if (MediaRecorder.isTypeSupported(TYPES[i])) return TYPES[i];
    return "";
  }

  function clock(seconds) {
    var s = Math.floor(seconds);
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }

  function setUp(field) {
    if (field.dataset.voiceReady) return;
    field.dataset.voiceReady = "1";
    if (!supported()) return;
    var input = field.querySelector("input[type=file][name=voice]");
    var ui = field.querySelector(".voice-rec");
    var startBtn = field.querySelector(".voice-start");
    var stopBtn = field.querySelector(".voice-stop");
    var time = field.querySelector(".voice-time");
    var done = field.querySelector(".voice-done");
    var preview = field.querySelector(".voice-preview");
    var problem = field.querySelector(".voice-problem");
    var form = field.closest("form");
    var max = parseInt(field.dataset.maxSeconds || "90", 10);
    var state = { recorder: null, stream: null, timer: null, started: 0, url: "", finished: null };
    ui.hidden = false;
    input.hidden = true;

    function show(which) {
      startBtn.hidden = which !== "idle";
      stopBtn.hidden = which !== "recording";
      done.hidden = which !== "done";
    }

    function warnIfAnonymous() {
      var warning = form && form.querySelector(".voice-anon-warning");
      if (!warning) return;
      var all = form.querySelector("input[name=anonymous][value=all]:checked");
      warning.hidden = !(all && input.files && input.files.length);
    }

    function clear() {
      if (state.url) {
        URL.revokeObjectURL(state.url);
        preview.removeAttribute("src");
        state.url = "";
      }
      input.value = "";
      show("idle");
      warnIfAnonymous();
    }

    function finish(chunks, mimeType) {
      var type = (mimeType || "audio/webm").split(";")[0];
      var blob = new Blob(chunks, { type: type });
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "voice." + (EXT[type] || "webm"), { type: type, lastModified: Date.now() }));
      input.files = transfer.files;
      state.url = URL.createObjectURL(blob);
      preview.src = state.url;
      show("done");
      warnIfAnonymous();
    }

    function release() {
      clearInterval(state.timer);
      if (state.stream) state.stream.getTracks().forEach(function (track) { track.stop(); });
      state.stream = null;
      state.recorder = null;
    }

    function stop() {
      var recorder = state.recorder;
      if (!recorder) return Promise.resolve();
      return new Promise(function (resolve) {
        recorder.addEventListener("stop", function () { resolve(); }, { once: true });
        if (recorder.state !== "inactive") recorder.stop(); else resolve();
      });
    }

    function start() {
      problem.hidden = true;
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        var type = pickType();
        var options = { audioBitsPerSecond: BITS_PER_SECOND };
        if (type) options.mimeType = type;
        var recorder = new MediaRecorder(stream, options);
        var chunks = [];
        state.stream = stream;
        state.recorder = recorder;
        recorder.addEventListener("dataavailable", function (event) { if (event.data && event.data.size) chunks.push(event.data); });
        recorder.addEventListener("stop", function () {
          release();
          finish(chunks, recorder.mimeType || type);
        });
        recorder.start(1000);
        state.started = Date.now();
        time.textContent = clock(0) + " / " + clock(max);
        state.timer = setInterval(function () {
          var elapsed = (Date.now() - state.started) / 1000;
          time.textContent = clock(elapsed) + " / " + clock(max);
          if (elapsed >= max) stop(); // the server takes at most `max` seconds
        }, 250);
        show("recording");
      }).catch(function () {
        // No permission (or no microphone): say so, and offer the recorder app instead.
        problem.textContent = t("micDenied");
        problem.hidden = false;
        input.hidden = false;
      });
    }

    startBtn.addEventListener("click", start);
    stopBtn.addEventListener("click", stop);
    field.querySelector(".voice-discard").addEventListener("click", clear);
    if (form) {
      form.addEventListener("change", warnIfAnonymous);
      // After a queued form is saved the page resets it for the next one.
      form.addEventListener("reset", function () { if (state.url) setTimeout(clear, 0); });
    }
    field.lianxinVoice = { recording: function () { return !!state.recorder; }, stop: stop };
  }

  // Pressing "send" while still recording: stop, put the recording in, then send.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var field = form.querySelector("[data-voice]");
    var voice = field && field.lianxinVoice;
    if (!voice || !voice.recording()) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    var submitter = event.submitter;
    voice.stop().then(function () {
      setTimeout(function () {
        if (form.requestSubmit) {
          if (submitter) form.requestSubmit(submitter); else form.requestSubmit();
        } else if (submitter) {
          submitter.click();
        }
      }, 0);
    });
  }, true);

  function setUpAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-voice]"), setUp);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpAll(document);
    // Forms come back in place: htmx swaps a panel of #main, a refused outbox item is shown
    // again as #main's new content. (Children of #main only: not every note and badge.)
    var main = document.getElementById("main");
    if (main && window.MutationObserver) {
      new MutationObserver(function () { setUpAll(main); }).observe(main, { childList: true });
    }
  });
})();
