// Unread counts and previews update live from the page's shared socket (honbu.js), from the
// frames themselves: a new message in a 2,000-member group must not make every phone sitting on
// this page re-fetch it at once. The page is re-fetched only when memberships change, and
// (spread over a few seconds) after a reconnect, when frames may have been missed.
(function () {
  var script = document.currentScript, me = script.dataset.me, url = script.dataset.url;
  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html"), fresh = doc.getElementById("groups-box"), cur = document.getElementById("groups-box");
      if (fresh && cur) cur.replaceWith(fresh);
    });
  }
  function badge(group) { return document.querySelector('[data-unread="' + Number(group) + '"]'); }
  function setUnread(el, n) { el.textContent = String(n); el.classList.toggle("zero", n === 0); }
  var opened = false;
  document.addEventListener("DOMContentLoaded", function () {  // after honbu.js: honbuLive
    window.honbuLive.onOpen(function () {
      if (opened) setTimeout(refresh, Math.random() * 3000);
      opened = true;
    });
    window.honbuLive.onFrame(function (f) {
      if (f.type === "groups") { refresh(); return; }
      var el = badge(f.group);
      if (f.type === "unread.changed" && el) setUnread(el, f.unread);
      if (f.type !== "message.new") return;
      if (!el) { refresh(); return; }  // a group this page does not list yet
      if (String(f.message.sender_id) !== me) setUnread(el, (parseInt(el.textContent, 10) || 0) + 1);
      var text = (f.message.text || "").replace(/[\u202a-\u202e\u2066-\u2069]/g, ""), preview = document.querySelector('[data-preview="' + Number(f.group) + '"]');
      if (preview) preview.textContent = " · " + (text.length > 40 ? text.slice(0, 39) + "…" : text);
    });
  });
})();
