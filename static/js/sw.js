// Honbu service worker: makes the app installable and shows an offline page when the
// network is gone. Pages are never cached (they hold live, per-user data).
const CACHE = "honbu-static-v1";
const OFFLINE_URL = "/static/offline.html";
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll([OFFLINE_URL, "/static/css/honbu.css", "/static/js/honbu.js"])));
  self.skipWaiting();
});
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))));
  self.clients.claim();
});
self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  if (req.mode === "navigate") {
    event.respondWith(fetch(req).catch(() => caches.match(OFFLINE_URL)));
  } else if (new URL(req.url).pathname.startsWith("/static/")) {
    event.respondWith(fetch(req).then((res) => {
      const copy = res.clone(); caches.open(CACHE).then((c) => c.put(req, copy)); return res;
    }).catch(() => caches.match(req)));
  }
});
