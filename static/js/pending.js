// The "not answered yet" page follows reads, 了解 and the chase live: it re-reads its list when
// the server says this instruction's counts or chase changed, at most once a second, one fetch
// in flight, and on every reconnect (frames may have been missed). Plain JS, no build step.
(function () {
  "use strict";
  var box = document.getElementById("pending");
  if (!box) return;
  var id = parseInt(box.dataset.message, 10);
  var busy = false, again = false, timer = null;
  function refresh() {
    clearTimeout(timer); timer = null;
    if (busy) { again = true; return; }
    busy = true; again = false;
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; })
      .catch(function () {})
      .then(function () { busy = false; if (again) later(); });
  }
  function later() { if (!timer) timer = setTimeout(refresh, 1000); }
  document.addEventListener("DOMContentLoaded", function () {  // after honbu.js: honbuLive
    window.honbuLive.onFrame(function (f) {
      if (f.type === "chase.changed" && f.message === id) later();
      else if (f.type === "receipt.counts" && f.counts.some(function (c) { return c.message === id; })) later();
    });
    window.honbuLive.onOpen(later);
  });
})();
