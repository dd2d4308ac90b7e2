// Live: re-read the list when the server says this chase changed (or a read/了解 moved the
// counters), coalesced: at most one fetch in flight, and one more if anything arrived meanwhile.
// A reconnect re-reads it (frames may have been missed), and every 15 s as a fallback.
(function () {
  "use strict";
  var box = document.getElementById("chase"), id = parseInt(box.dataset.message, 10);
  var busy = false, again = false, timer = null;
  function refresh() {
    clearTimeout(timer); timer = null;
    if (busy) { again = true; return; }
    busy = true; again = false;
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var open = box.querySelector("details.timeline[open]"); // keep the timeline open if it was
        box.innerHTML = html;
        if (open) { var t = box.querySelector("details.timeline"); if (t) t.open = true; }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) later(); });
  }
  function later() { if (!timer) timer = setTimeout(refresh, 250); }
  document.addEventListener("DOMContentLoaded", function () {  // after honbu.js: honbuLive
    window.honbuLive.onFrame(function (f) {
      if (f.type === "chase.changed" && f.message === id) later();
      else if (f.type === "receipt.counts" && f.counts.some(function (c) { return c.message === id; })) later();
    });
    window.honbuLive.onOpen(later);
  });
  setInterval(function () { if (document.visibilityState === "visible") later(); }, 15000);
})();
