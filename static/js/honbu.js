// Translations come from Django's JavaScript catalogue (/jsi18n/, loaded by base.html); these
// fallbacks keep the page working in English if it failed to load.
window.gettext = window.gettext || function (s) { return s; };
window.interpolate = window.interpolate || function (s, a) { return s.replace(/%s/g, function () { return a.shift(); }); };
// Reconnect delays for the page's websockets (this file's shared one, chat-live.js's own):
// exponential backoff with full jitter — attempt n waits a uniform random time in
// [0, min(30 s, 1 s·2^n)] — so that 2,000 phones dropped at once (a server restart, a network
// blip, a 4408 "too slow") come back spread out instead of in the same instant
// (docs/reliability.md). The last delays drawn are on <body data-reconnect-delays> (ms), for
// the browser test that checks the spread; they say nothing about the person.
window.honbuBackoff = function () {
  var attempt = 0;
  return {
    next: function () {
      var ceiling = Math.min(30000, 1000 * Math.pow(2, attempt));
      attempt = Math.min(attempt + 1, 15);
      var delay = Math.round(Math.random() * ceiling);
      var seen = (document.body.dataset.reconnectDelays || "").split(" ").filter(Boolean);
      seen.push(String(delay));
      document.body.dataset.reconnectDelays = seen.slice(-8).join(" ");
      return delay;
    },
    reset: function () { attempt = 0; }
  };
};
// A dead link (a cut cable, a server frozen, a phone's network gone without telling the browser)
// is noticed only when TCP gives up — minutes. So a page's socket that has heard nothing for
// <body data-heartbeat> seconds (HONBU_WS_HEARTBEAT_SECONDS) sends a ping, and when nothing at
// all comes back within as long again (at most 10 s) it calls dead(): the page drops the socket
// and reconnects (with the backoff above), then catches up by sequence number.
window.honbuHeartbeat = function (ws, dead) {
  var every = (parseFloat(document.body.dataset.heartbeat) || 25) * 1000;
  var timer = null;
  function quiet() {
    if (ws.readyState !== 1) return;
    ws.send('{"type":"ping"}');
    timer = setTimeout(function () { if (ws.readyState === 1) dead(); }, Math.min(every, 10000));
  }
  function heard() { clearTimeout(timer); timer = setTimeout(quiet, every); }
  ws.addEventListener("open", heard);
  ws.addEventListener("message", heard);
  ws.addEventListener("close", function () { clearTimeout(timer); });
};
// Honbu: connection state, service worker, live directory search. Plain JS, no build step.
(function () {
  "use strict";

  function showConn() {
    var el = document.getElementById("conn-state");
    if (!el || document.getElementById("chat")) return; // the chat page reports its websocket state
    var on = navigator.onLine;
    el.textContent = on ? el.dataset.online : el.dataset.offline;
    el.classList.toggle("offline", !on);
  }

  // As-you-type search: fetch "?partial=1&q=…" and swap the result list in place.
  // Robust against out-of-order replies (only the newest request may render, older ones are
  // aborted), network loss (a visible message, retried when the network returns) and an expired
  // session (reload the full page, which goes through sign-in and comes back to this query).
  function liveSearch(form) {
    var input = form.querySelector("input[name=q]");
    var results = document.getElementById("results");
    var status = document.getElementById("search-status");
    if (!input || !results) return;
    var endpoint = new URL(form.dataset.liveSearch, location.href);
    // The query whose results the server rendered: whatever was typed before this script ran
    // (a slow phone) is searched at once below, not lost.
    var shown = input.defaultValue.trim();
    var timer = null, seq = 0, controller = null, failed = false;

    function setStatus(text, isError) {
      if (!status) return;
      status.textContent = text || "";
      status.classList.toggle("error", !!isError);
    }
    function pageUrl(q) {
      return endpoint.pathname + (q ? "?q=" + encodeURIComponent(q) : "");
    }
    function run(force) {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q === shown && !force) return;
      var mine = ++seq;
      if (controller) controller.abort();
      controller = window.AbortController ? new AbortController() : null;
      results.setAttribute("aria-busy", "true");
      setStatus(status && status.dataset.searching);
      var url = endpoint.pathname + "?partial=1&q=" + encodeURIComponent(q);
      fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-Requested-With": "fetch" },
        signal: controller ? controller.signal : undefined
      }).then(function (r) {
        if (r.redirected && new URL(r.url).pathname !== endpoint.pathname) {
          location.assign(pageUrl(q)); // signed out meanwhile: sign in, then back here
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      }).then(function (html) {
        if (html === null || mine !== seq) return; // a newer keystroke won
        results.innerHTML = html;
        results.removeAttribute("aria-busy");
        shown = q;
        failed = false;
        setStatus("");
        history.replaceState(history.state, "", pageUrl(q));
      }).catch(function (err) {
        if (mine !== seq || (err && err.name === "AbortError")) return;
        results.removeAttribute("aria-busy");
        failed = true;
        setStatus(status && status.dataset.failed, true);
      });
    }
    function later() {
      clearTimeout(timer);
      timer = setTimeout(run, 200);
    }
    input.addEventListener("input", later); // includes IME composition: kana before conversion
    input.addEventListener("compositionend", later);
    input.addEventListener("search", later); // the clear (×) button of type=search
    form.addEventListener("submit", function (e) {
      e.preventDefault(); // enter: search now and put the keyboard away to show the results
      run(failed);
      input.blur();
    });
    window.addEventListener("online", function () { if (failed) run(true); });
    window.addEventListener("pageshow", function () { if (input.value.trim() !== shown) later(); });
    if (input.value.trim() !== shown) later();
  }

  window.addEventListener("online", showConn);
  window.addEventListener("offline", showConn);
  document.addEventListener("DOMContentLoaded", function () {
    showConn();
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    }
    var form = document.querySelector("form[data-live-search]");
    if (form) liveSearch(form);
  });
})();

// Reminder banner (any page) and the page's shared live socket. The chat page's own socket
// calls window.honbuShowReminder(frame) too.
(function () {
  "use strict";
  var shownNotes = {}; // a notification's live event and the catch-up after a reconnect: once
  window.honbuShowReminder = function (f) {
    if (!f || f.type !== "reminder") return;
    if (f.notification && shownNotes[f.notification]) return;
    shownNotes[f.notification] = true;
    var bar = document.getElementById("reminder-banner");
    if (!bar) {
      bar = document.createElement("div"); bar.id = "reminder-banner"; bar.className = "reminder-banner"; bar.setAttribute("role", "alert");
      var main = document.getElementById("main"); main.parentNode.insertBefore(bar, main);
    }
    // Apps above messaging word their own kinds (calls-ring.js: window.honbuReminderText).
    var text = (window.honbuReminderText && window.honbuReminderText(f)) || { reminder: gettext("Reminder: an instruction is waiting for your response."),
                 escalation: gettext("An instruction has been handed to you as a deputy."),
                 unreached: gettext("Some members are still unreached."),
                 test: gettext("Test notification: notifications reach this page.") }[f.kind] || gettext("New notification");
    bar.innerHTML = "";
    bar.hidden = false;
    bar.dataset.kind = f.kind || "";
    bar.dataset.notification = f.notification;
    // Re-inserting restarts the pulse, so a second reminder is as visible as the first.
    bar.style.animation = "none"; void bar.offsetWidth; bar.style.animation = "";
    var a = document.createElement("a"); a.href = "/notifications/" + f.notification + "/open/"; a.textContent = text + " ›";
    bar.appendChild(a);
    var close = document.createElement("button"); close.type = "button"; close.textContent = "×";
    close.setAttribute("aria-label", gettext("Close"));
    close.addEventListener("click", function () { bar.hidden = true; });
    bar.appendChild(close);
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  };
  // In-app notifications missed while the socket was away (a dropped network, a server or Redis
  // restart): each (re)connect asks for those after the newest this page knows, and the banner
  // shows the newest of them. Used by the shared socket below and the chat page's own.
  window.honbuNotes = (function () {
    var last = null; // unknown until the first connect answers
    return {
      sync: function (send) { send({ type: "notifications.sync", after: last }); },
      frame: function (f) {
        if (f.type === "reminder") { last = Math.max(last || 0, f.notification); return; }
        if (f.type !== "notifications") return;
        var first = last === null;
        last = Math.max(last || 0, f.last);
        if (!first && f.items.length) window.honbuShowReminder(Object.assign({ type: "reminder" }, f.items[f.items.length - 1]));
      },
    };
  })();
  // One live socket per page, shared: pages subscribe with honbuLive.onFrame / onOpen (from a
  // DOMContentLoaded listener, which runs after this deferred script). The chat page keeps its
  // own, richer socket (chat-live.js).
  var frameHandlers = [], openHandlers = [], socket = null;
  window.honbuLive = {
    onFrame: function (fn) { frameHandlers.push(fn); },
    onOpen: function (fn) { openHandlers.push(fn); },
    send: function (frame) {  // false when the socket is not open (the caller retries onOpen)
      if (!socket || socket.readyState !== 1) return false;
      socket.send(JSON.stringify(frame)); return true;
    },
  };
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.body.dataset.signedIn || document.getElementById("chat")) return;
    var backoff = window.honbuBackoff();
    (function connect() {
      var ws = socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
      var gone = false;
      function again(ev) {
        if (gone) return;
        gone = true;
        if (ev && (ev.code === 4401 || ev.code === 4403)) return;
        setTimeout(connect, backoff.next());
      }
      window.honbuHeartbeat(ws, function () { ws.close(); again(); });
      ws.onopen = function () {
        backoff.reset();
        window.honbuNotes.sync(function (fr) { ws.send(JSON.stringify(fr)); });
        openHandlers.forEach(function (fn) { fn(); });
      };
      ws.onmessage = function (ev) {
        var f = JSON.parse(ev.data);
        window.honbuNotes.frame(f);
        if (f.type === "reminder") window.honbuShowReminder(f);
        if (window.honbuArrival) window.honbuArrival(f); // alerts.js: overlay, badge, title
        if (window.honbuDisaster) window.honbuDisaster(f); // disaster.js: the banner
        frameHandlers.forEach(function (fn) { fn(f); });
      };
      ws.onclose = again;
    })();
  });
})();
