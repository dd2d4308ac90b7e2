// Web Push subscription for this browser / installed PWA (settings page).
(function () {
  "use strict";
  var card = document.getElementById("push-card");
  if (!card) return;
  var state = document.getElementById("push-state"), button = document.getElementById("push-enable");
  function b64ToBytes(s) { s = s.replace(/-/g, "+").replace(/_/g, "/"); while (s.length % 4) s += "="; var raw = atob(s), out = new Uint8Array(raw.length); for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i); return out; }
  function csrf() { var m = document.cookie.match(/csrftoken=([^;]+)/); return m ? m[1] : document.querySelector("input[name=csrfmiddlewaretoken]").value; }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !card.dataset.key) {
    button.disabled = true;
    state.textContent = gettext("Push notifications are not available in this browser. Reminders still appear in the app and by e-mail.");
    return;
  }
  button.addEventListener("click", function () {
    Notification.requestPermission().then(function (perm) {
      if (perm !== "granted") throw new Error(gettext("Notifications are blocked for this site."));
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(card.dataset.key) });
    }).then(function (sub) {
      return fetch(card.dataset.subscribe, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(sub.toJSON()) });
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (d) { throw new Error(d.error || r.status); });
      state.textContent = gettext("Push notifications are on for this device.");
    }).catch(function (e) { state.textContent = gettext("Could not turn on push notifications:") + " " + e.message; });
  });
})();
