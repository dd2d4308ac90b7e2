// The drill control page follows the run without a reload: it re-reads its timeline every two
// seconds while visible (injects firing, expectations turning green or red). Plain JS.
(function () {
  "use strict";
  var box = document.getElementById("control");
  if (!box) return;
  var busy = false;
  function refresh() {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, 2000);
})();
