// A safety round's live totals: the page watches the round on its socket and re-reads its
// totals when answers arrive (the server sends at most one safety.changed a second, and
// computes the totals once a second for every screen). Plain JS.
(function () {
  "use strict";
  var box = document.getElementById("round");
  if (!box) return;
  var id = parseInt(box.dataset.round, 10), busy = false, again = false, since = 0;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true; again = false;
    // Totals computed after the latest change we were told of (the server's cache is 1 s).
    var url = box.dataset.url + (since ? "&since=" + since : "");
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; })
      .catch(function () {})
      .then(function () { busy = false; if (again) refresh(); });
  }
  document.addEventListener("DOMContentLoaded", function () {  // after honbu.js: honbuLive
    window.honbuLive.onOpen(function () {
      window.honbuLive.send({ type: "safety.watch", round: id });
      refresh(); // anything missed while disconnected
    });
    window.honbuLive.onFrame(function (f) {
      if (f.type !== "safety.changed" || f.round !== id) return;
      if (typeof f.at === "number" && f.at > since) since = f.at;
      refresh();
    });
  });
})();
