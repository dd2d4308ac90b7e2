// Refresh the lists every few seconds while the page is open (coalesced on the server side).
(function () {
  var box = document.getElementById("receipts");
  setInterval(function () {
    if (document.visibilityState !== "visible") return;
    fetch(box.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) box.innerHTML = html; }).catch(function () {});
  }, 3000);
})();
