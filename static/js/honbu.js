// Honbu: connection state, service worker, live directory search. Plain JS, no build step.
(function () {
  "use strict";
  function showConn() {
    var el = document.getElementById("conn-state");
    if (!el) return;
    var on = navigator.onLine;
    el.textContent = on ? el.dataset.online : el.dataset.offline;
    el.classList.toggle("offline", !on);
  }
  window.addEventListener("online", showConn);
  window.addEventListener("offline", showConn);
  document.addEventListener("DOMContentLoaded", function () {
    showConn();
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    var form = document.querySelector("form[data-live-search]");
    if (!form) return;
    var input = form.querySelector("input[name=q]"), results = document.getElementById("results");
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq, q = input.value.trim();
        var url = form.dataset.liveSearch + "?partial=1&q=" + encodeURIComponent(q);
        fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (html) {
            if (mine !== seq) return; // a newer keystroke won
            results.innerHTML = html;
            history.replaceState(null, "", "?q=" + encodeURIComponent(q));
          })
          .catch(function () {});
      }, 150);
    });
  });
})();
