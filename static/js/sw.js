// Honbu service worker: makes the app installable and shows an offline page when the
// network is gone. Pages are never cached (they hold live, per-user data); only the few static
// files the offline page needs, refreshed from the network whenever it is there.
const CACHE = "honbu-static-v2";
const OFFLINE_URL = "/static/offline.html";
const PRECACHE = [OFFLINE_URL, "/static/css/honbu.css", "/static/js/honbu.js", "/static/icons/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function offlinePage() {
  return caches.match(OFFLINE_URL).then((res) => res || new Response(
    "<!doctype html><meta charset=utf-8><title>Offline</title><p>オフラインです / You are offline.</p>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
  ));
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate") {
    event.respondWith(fetch(req).catch(offlinePage));
  } else if (url.pathname.startsWith("/static/")) {
    // Network first, so a deploy is seen at once; the cached copy only when offline.
    event.respondWith(fetch(req).then((res) => {
      if (res.ok) {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(req, copy));
      }
      return res;
    }).catch(() => caches.match(req).then((res) => res || Response.error())));
  }
});

// Web Push: show the reminder; a tap opens the instruction (or focuses an open Honbu window).
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: "Honbu", body: event.data && event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "Honbu", {
    body: data.body || "", tag: data.tag || "honbu", renotify: true, requireInteraction: true,
    icon: "/static/icons/icon-192.png", badge: "/static/icons/icon-192.png", data: { url: data.url || "/" },
  }));
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((wins) => {
    for (const w of wins) { if (w.url === url && "focus" in w) return w.focus(); }
    return self.clients.openWindow(url);
  }));
});
