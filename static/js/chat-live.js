// Honbu chat page (4/4): the live connection, and the start. The page's own websocket (not
// honbu.js's shared honbuLive): frames in and out, database-backed catch-up by sequence number,
// read receipts once a message has been on screen, the connection state in the header. Loaded
// last: draws the messages that came with the page and the outbox, then connects. Plain JS;
// strings come from Django's JavaScript catalogue (gettext).
//
// Invariants: `lastSeq` only moves over a contiguous run, so any gap is fetched from the database
// (sync); the outbox is flushed on every (re)connect and the server drops repeats by client_id.
(function () {
  "use strict";
  var ns = window.honbuChat;
  if (!ns) return;
  var root = ns.root, GROUP = ns.GROUP, ME = ns.ME, list = ns.list;
  var stateEl = document.getElementById("conn-state");
  var lastSeq = 0, ws = null, backoff = window.honbuBackoff(), retryTimer = null, syncing = false;

  // --- connection state (always shown in the header) -----------------------------------------
  function online() { return navigator.onLine !== false; }
  function setState(state) {
    var labels = { online: gettext("Connected"), connecting: gettext("Reconnecting…"), offline: gettext("Offline") };
    if (stateEl) { stateEl.textContent = labels[state]; stateEl.className = "conn " + state; }
    root.dataset.conn = state;
  }

  // A message from the live channel: draw it, and fetch from the database if one is missing.
  function accept(m) {
    if (m.group !== GROUP) return;
    var atBottom = ns.nearBottom();
    var li = ns.render(m);
    if (m.kind === "instruction") ns.queueEscalation(m.id);
    if (m.seq <= lastSeq + 1) lastSeq = Math.max(lastSeq, m.seq);
    else sync(); // a gap (a dropped event): the database has the rest
    if (m.sender_id === ME || atBottom) ns.toBottom();
    else if (m.kind === "instruction" && m.priority === "urgent") li.scrollIntoView({ block: "center" });
  }

  // --- read receipts: a message counts as read once it has been on screen -------------------
  var composerEl = document.getElementById("composer");
  var covered = composerEl ? composerEl.offsetHeight : 0; // the sticky composer hides the bottom
  var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    if (document.visibilityState !== "visible") return;
    entries.forEach(function (e) {
      if (!e.isIntersecting) return;
      // Most of it on screen, or (a long message) most of the screen filled by it.
      var seen = e.intersectionRatio >= 0.6 || e.intersectionRect.height >= 0.4 * window.innerHeight;
      if (seen) { io.unobserve(e.target); markRead(parseInt(e.target.dataset.seq, 10)); }
    });
  }, { threshold: [0, 0.3, 0.6, 1], rootMargin: "-52px 0px -" + covered + "px 0px" }) : null;
  var readSeen = {}; // seq → already counted on screen
  function observe(li, m) { if (m.sender_id !== ME && io && !readSeen[m.seq]) io.observe(li); }
  // readSent: asked for; readConfirmed: the server said read_ok (stored). A read lost with its
  // socket (a server killed before the batch committed) is asked for again on reconnect.
  var readWanted = 0, readSent = 0, readConfirmed = 0, readTimer = null;
  function markRead(seq) {
    readSeen[seq] = true;
    readWanted = Math.max(readWanted, seq);
    clearTimeout(readTimer);
    readTimer = setTimeout(flushRead, 300);
  }
  function flushRead() {
    if (readWanted > readSent && send({ type: "read", group: GROUP, up_to_seq: readWanted })) readSent = readWanted;
  }

  // --- websocket ----------------------------------------------------------------------------
  function send(frame) {
    if (!ws || ws.readyState !== 1 || !online()) return false;
    ws.send(JSON.stringify(frame)); return true;
  }
  function sync() {
    if (syncing) return;
    syncing = send({ type: "sync", group: GROUP, after_seq: lastSeq, ref: "sync" });
  }
  function refreshCounts() {
    // Receipt events may have been missed while disconnected: ask again for what is on screen.
    Array.prototype.slice.call(document.querySelectorAll("[data-counter]"), -20).forEach(function (a) {
      send({ type: "counts", message: parseInt(a.dataset.counter, 10) });
    });
  }
  function scheduleConnect() {
    clearTimeout(retryTimer);
    if (!online()) { setState("offline"); return; } // the "online" event reconnects
    setState("connecting");
    retryTimer = setTimeout(connect, backoff.next()); // jittered: honbu.js
  }
  function connect() {
    clearTimeout(retryTimer);
    if (ws && ws.readyState <= 1) return;
    if (!online()) { setState("offline"); return; }
    setState("connecting");
    var sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
    sock.onopen = function () {
      if (sock !== ws) return;
      backoff.reset(); syncing = false; setState("online");
      readSent = readConfirmed;
      if (window.honbuNotes) window.honbuNotes.sync(send);
      sync(); ns.flushOutbox(); ns.flushAcks(); flushRead(); refreshCounts(); ns.refreshEscalations();
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null; syncing = false;
      if (ev.code === 4401 || ev.code === 4403) { location.reload(); return; } // signed out
      scheduleConnect();
    };
    sock.onmessage = function (ev) { if (sock === ws) handle(JSON.parse(ev.data)); };
    window.honbuHeartbeat(sock, function () { // a dead link: drop it, reconnect, catch up
      if (sock !== ws) return;
      ws = null; syncing = false; sock.close();
      scheduleConnect();
    });
  }
  function handle(f) {
    if (window.honbuNotes) window.honbuNotes.frame(f); // missed in-app notifications (honbu.js)
    if (window.honbuArrival) window.honbuArrival(f); // alerts.js: other groups' instructions, badge
    if (window.honbuDisaster) window.honbuDisaster(f); // disaster.js: the banner
    if (window.honbuCalls) window.honbuCalls(f); // calls-ring.js: the ringing screen
    switch (f.type) {
      case "history":
        if (f.group !== GROUP) break;
        var atBottom = ns.nearBottom();
        f.messages.forEach(function (m) { ns.render(m); lastSeq = Math.max(lastSeq, m.seq); });
        syncing = false;
        if (f.more || f.last_seq > lastSeq) sync();
        if (atBottom && f.messages.length) ns.toBottom();
        if (f.messages.some(function (m) { return m.kind === "instruction"; })) ns.refreshEscalations();
        break;
      case "message.new": accept(f.message); break;
      case "message.update": if (f.message.group === GROUP && document.getElementById("msg-" + f.message.seq)) ns.render(f.message); break;
      case "sent":
        if (f.group !== GROUP) break;
        ns.removeFromOutbox(f.client_id);
        // Its message.new normally follows; if that event was dropped, fetch it from the database.
        setTimeout(function () { if (f.seq > lastSeq) sync(); }, 1500);
        break;
      case "receipt.counts":
        f.counts.forEach(function (c) {
          ns.counts[c.message] = c;
          var m = ns.byId[c.message];
          var a = document.querySelector('[data-counter="' + c.message + '"]');
          if (a && m) ns.fillCounter(a, c, m.requires_ack);
          else if (m) ns.render(m);
        });
        document.dispatchEvent(new CustomEvent("honbu:counts", { detail: f.counts }));
        break;
      case "read_ok": if (f.group === GROUP) readConfirmed = Math.max(readConfirmed, f.up_to_seq); break;
      case "chase.changed": if (f.group === GROUP) ns.queueEscalation(f.message); break;
      case "reminder": if (window.honbuShowReminder) window.honbuShowReminder(f); break;
      case "ack_ok":
        ns.acked.add(f.message); ns.pendingAck.delete(f.message); ns.ackAnswered(f.message);
        var b = document.querySelector('[data-ack="' + f.message + '"]');
        if (b) { b.textContent = gettext("Acknowledged"); b.disabled = true; b.classList.add("done"); }
        break;
      case "error":
        if (f.ref === "sync") { syncing = false; ns.showError(f.message); break; }
        // A refused 了解 is final; after a server hiccup it stays and goes again on reconnect.
        if (typeof f.ref === "string" && f.ref.indexOf("ack-") === 0) {
          if (f.code !== "server_error") ns.ackAnswered(parseInt(f.ref.slice(4), 10));
          ns.showError(f.message); break;
        }
        var outboxItem = f.ref && typeof f.ref === "string" && document.getElementById("out-" + f.ref);
        // A refused message stays visible with the reason; a server hiccup is retried on reconnect.
        if (outboxItem) { if (f.code !== "server_error") ns.failOutbox(f.ref, f.message); }
        else ns.showError(f.message);
        break;
    }
  }

  ns.send = send;
  ns.accept = accept;
  ns.observe = observe;

  // --- start --------------------------------------------------------------------------------
  ns.initial.forEach(function (m) { ns.render(m); lastSeq = Math.max(lastSeq, m.seq); });
  ns.loadOutbox().forEach(ns.renderPending);
  // The network back: connect within a second, jittered (a city's phones get it back together).
  window.addEventListener("online", function () { backoff.reset(); scheduleConnect(); });
  window.addEventListener("offline", function () {
    // The socket may look open while the network is gone; drop it and keep sends in the outbox.
    setState("offline");
    if (ws) { var old = ws; ws = null; old.close(); }
    clearTimeout(retryTimer);
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    list.querySelectorAll("li.msg").forEach(function (li) { if (io && !readSeen[li.dataset.seq] && !li.classList.contains("mine")) { io.unobserve(li); io.observe(li); } });
    if (!ws) connect();
    else ns.refreshEscalations();
  });
  ns.toBottom();
  connect();
  ns.lastSeq = function () { return lastSeq; };
  ns.socket = function () { return ws; };
})();
