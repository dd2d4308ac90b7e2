// Honbu chat page: one websocket, database-backed catch-up by sequence number, an outbox kept
// in localStorage across reloads, read receipts when a message is on screen, 了解 button and
// live read/ack counters and, on instructions, a live escalation summary. Plain JS; strings come from Django's JavaScript catalogue (gettext).
//
// Invariants: a message is drawn once, keyed by its sequence number (re-drawing replaces it);
// `lastSeq` only moves over a contiguous run, so any gap is fetched from the database (sync);
// the outbox is flushed on every (re)connect and the server drops repeats by client_id.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) return;
  var GROUP = parseInt(root.dataset.group, 10);
  var ME = parseInt(root.dataset.me, 10);
  var CAN_SEE_COUNTS_ALL = root.dataset.commander === "1";
  var list = document.getElementById("messages");
  var stateEl = document.getElementById("conn-state");
  var OUTBOX_KEY = "honbu.outbox." + ME + "." + GROUP;
  var lastSeq = 0, ws = null, backoff = 1000, retryTimer = null, syncing = false;
  var counts = JSON.parse(document.getElementById("counts-data").textContent);
  var acked = new Set(JSON.parse(document.getElementById("acked-data").textContent));
  var pendingAck = new Set(JSON.parse(document.getElementById("pending-ack-data").textContent));
  var initial = JSON.parse(document.getElementById("messages-data").textContent);
  // Messages rendered with the page: my receipts for them are known (acked / pendingAck).
  // Anything that arrives later was sent while I was a member, so I am one of its recipients.
  var fromPage = new Set(initial.map(function (m) { return m.id; }));
  var byId = {};
  var replyTo = null, editing = null, texts = {};
  var EDIT_MS = (parseFloat(root.dataset.editMinutes) || 0) * 60000;
  var esc = {}; // message id → escalation summary {reminded, escalated, unreached, covered}

  // --- connection state (always shown in the header) -----------------------------------------
  function online() { return navigator.onLine !== false; }
  function setState(state) {
    var labels = { online: gettext("Connected"), connecting: gettext("Reconnecting…"), offline: gettext("Offline") };
    if (stateEl) { stateEl.textContent = labels[state]; stateEl.className = "conn " + state; }
    root.dataset.conn = state;
  }

  // --- rendering ----------------------------------------------------------------------------
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function timeOf(iso) { var d = new Date(iso); return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  function priorityLabel(p) { return { urgent: gettext("Urgent"), important: gettext("Important"), normal: gettext("Instruction") }[p] || p; }
  function showsCounts(m) { return m.sender_id === ME || CAN_SEE_COUNTS_ALL; }

  function counterText(c, requiresAck) {
    var s = interpolate(gettext("Read %s/%s"), [c.read, c.total]);
    return requiresAck ? s + " · " + interpolate(gettext("Ack %s/%s"), [c.acked, c.total]) : s;
  }
  function fillCounter(a, c, requiresAck) {
    a.textContent = counterText(c, requiresAck);
    a.dataset.read = c.read; a.dataset.acked = c.acked; a.dataset.total = c.total;
    a.classList.toggle("complete", requiresAck ? c.acked >= c.total : c.read >= c.total);
  }

  // --- escalation summary ("督促中 3 · 代行 1 · 未到達 0"), from /messages/m/<id>/chase/?format=summary --
  function fillEscalation(a, s) {
    a.hidden = !s || !s.chased; // not chased (yet unknown, or no policy): nothing to show
    if (a.hidden) return;
    a.textContent = interpolate(gettext("Reminding %s"), [s.reminded]) + " · " +
      interpolate(gettext("Deputy %s"), [s.escalated]) + " · " + interpolate(gettext("Unreached %s"), [s.unreached]);
    a.dataset.reminded = s.reminded; a.dataset.escalated = s.escalated; a.dataset.unreached = s.unreached;
    a.classList.toggle("alert", s.unreached > 0);
    a.classList.toggle("active", s.unreached === 0 && s.reminded + s.escalated > 0);
  }
  // chase.changed frames are coalesced: ids collect for a moment, then one fetch per message,
  // never two at once for the same page; frames arriving meanwhile are fetched afterwards.
  var escPending = new Set(), escTimer = null, escBusy = false;
  function queueEscalation(id) {
    if (!byId[id] || !showsCounts(byId[id])) return;
    escPending.add(id);
    if (!escTimer && !escBusy) escTimer = setTimeout(flushEscalation, 300);
  }
  function flushEscalation() {
    escTimer = null;
    var ids = Array.from(escPending).slice(0, 10);
    ids.forEach(function (id) { escPending.delete(id); });
    if (!ids.length) return;
    escBusy = true;
    Promise.all(ids.map(function (id) {
      return fetch("/messages/m/" + id + "/chase/?format=summary", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j) return;
          esc[id] = j;
          var a = document.querySelector('[data-esc="' + id + '"]');
          if (a) fillEscalation(a, esc[id]);
        }).catch(function () { /* offline: the next frame or reconnect asks again */ });
    })).then(function () {
      escBusy = false;
      if (escPending.size) escTimer = setTimeout(flushEscalation, 300);
    });
  }
  function refreshEscalations() {
    Array.prototype.slice.call(document.querySelectorAll("[data-esc]"), -10).forEach(function (a) {
      queueEscalation(parseInt(a.dataset.esc, 10));
    });
  }

  function render(m) {
    byId[m.id] = m;
    if (showsCounts(m) && !counts[m.id]) counts[m.id] = { total: m.recipient_count, read: 0, acked: 0 };
    var li = document.getElementById("msg-" + m.seq) || el("li");
    li.id = "msg-" + m.seq;
    li.dataset.seq = m.seq; li.dataset.id = m.id;
    li.className = "msg" + (m.sender_id === ME ? " mine" : "") + (m.kind === "instruction" ? " instruction prio-" + m.priority : "") + (m.deleted ? " deleted" : "");
    li.innerHTML = "";
    var head = el("div", "msg-head");
    if (m.kind === "instruction") {
      head.appendChild(el("span", "badge prio prio-" + m.priority, priorityLabel(m.priority)));
      if (m.requires_ack) head.appendChild(el("span", "badge ack-req", gettext("了解 requested")));
    }
    var who = el("span", "sender");
    who.appendChild(el("strong", null, m.sender_name));
    if (m.sender_post) who.appendChild(el("span", "muted", " " + m.sender_post));
    head.appendChild(who);
    head.appendChild(el("time", "muted when", timeOf(m.created_at)));
    li.appendChild(head);
    if (m.reply_to) {
      var q = el("a", "quote", m.reply_to.sender_name + ": " + (m.reply_to.excerpt || gettext("(deleted)")));
      q.href = "#msg-" + m.reply_to.seq;
      li.appendChild(q);
    }
    var body = el("div", "body");
    body.dir = "auto";
    if (m.deleted) body.textContent = gettext("This message was deleted.");
    else body.innerHTML = m.html; // sanitised on the server (messaging/rendering.py)
    li.appendChild(body);
    (m.attachments || []).forEach(function (a) {
      var link = el("a", "attachment"); link.href = a.url;
      if (a.is_image) { var img = el("img"); img.src = a.thumb || a.url; img.alt = a.name; img.loading = "lazy"; link.appendChild(img); }
      else link.textContent = "📎 " + a.name;
      li.appendChild(link);
    });
    var isRecipient = !fromPage.has(m.id) || pendingAck.has(m.id) || acked.has(m.id);
    if (m.requires_ack && m.sender_id !== ME && !m.deleted && isRecipient) {
      var done = acked.has(m.id);
      var b = el("button", "btn ack-btn" + (done ? " done" : ""), done ? gettext("Acknowledged") : gettext("了解 (Acknowledge)"));
      b.type = "button"; b.disabled = done; b.dataset.ack = m.id;
      li.appendChild(b);
    }
    var foot = el("div", "msg-foot");
    if (m.edited && !m.deleted) foot.appendChild(el("span", "muted", gettext("edited")));
    var c = counts[m.id];
    if (c && showsCounts(m)) {
      var a = el("a", "counter");
      a.href = "/messages/m/" + m.id + "/receipts/";
      a.dataset.counter = m.id;
      a.title = gettext("Who has read");
      fillCounter(a, c, m.requires_ack);
      foot.appendChild(a);
    }
    if (m.kind === "instruction" && !m.deleted && showsCounts(m)) {
      var s = el("a", "esc-summary");
      s.href = "/messages/m/" + m.id + "/chase/";
      s.dataset.esc = m.id;
      s.title = gettext("Escalation");
      fillEscalation(s, esc[m.id]);
      foot.appendChild(s);
    }
    if (!m.deleted && root.dataset.canPost === "1") {
      var r = el("button", "link-btn", gettext("Reply")); r.type = "button"; r.dataset.reply = m.id;
      r.dataset.replyName = m.sender_name; foot.appendChild(r);
    }
    // The sender may edit or delete within the window; every version stays in the record.
    texts[m.id] = m.text || "";
    if (m.sender_id === ME && !m.deleted && Date.now() - new Date(m.created_at).getTime() < EDIT_MS) {
      var e = el("button", "link-btn", gettext("Edit")); e.type = "button"; e.dataset.edit = m.id; foot.appendChild(e);
      var x = el("button", "link-btn", gettext("Delete")); x.type = "button"; x.dataset.delete = m.id; foot.appendChild(x);
    }
    li.appendChild(foot);
    if (!li.parentNode) insertInOrder(li);
    observe(li, m);
    if (m.sender_id === ME) removeFromOutbox(m.client_id);
    return li;
  }

  function insertInOrder(li) {
    var seq = parseInt(li.dataset.seq, 10), items = list.querySelectorAll("li.msg");
    for (var i = items.length - 1; i >= 0; i--) {
      if (parseInt(items[i].dataset.seq, 10) < seq) { items[i].after(li); return; }
    }
    list.prepend(li);
  }

  function nearBottom() { return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120; }
  function toBottom() { window.scrollTo(0, document.documentElement.scrollHeight); }

  // A message from the live channel: draw it, and fetch from the database if one is missing.
  function accept(m) {
    if (m.group !== GROUP) return;
    var atBottom = nearBottom();
    var li = render(m);
    if (m.kind === "instruction") queueEscalation(m.id);
    if (m.seq <= lastSeq + 1) lastSeq = Math.max(lastSeq, m.seq);
    else sync(); // a gap (a dropped event): the database has the rest
    if (m.sender_id === ME || atBottom) toBottom();
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
  var readWanted = 0, readSent = 0, readTimer = null;
  function markRead(seq) {
    readSeen[seq] = true;
    readWanted = Math.max(readWanted, seq);
    clearTimeout(readTimer);
    readTimer = setTimeout(flushRead, 300);
  }
  function flushRead() {
    if (readWanted > readSent && send({ type: "read", group: GROUP, up_to_seq: readWanted })) readSent = readWanted;
  }

  // --- outbox (survives reloads and lost connections) ---------------------------------------
  function loadOutbox() { try { return JSON.parse(localStorage.getItem(OUTBOX_KEY)) || []; } catch (e) { return []; } }
  function saveOutbox(items) {
    try { if (items.length) localStorage.setItem(OUTBOX_KEY, JSON.stringify(items)); else localStorage.removeItem(OUTBOX_KEY); } catch (e) { /* private mode: memory only */ }
  }
  function removeFromOutbox(cid) {
    if (!cid) return;
    var items = loadOutbox(), kept = items.filter(function (i) { return i.client_id !== cid; });
    if (kept.length !== items.length) saveOutbox(kept);
    var p = document.getElementById("out-" + cid); if (p) p.remove();
  }
  function renderPending(item) {
    if (document.getElementById("out-" + item.client_id)) return;
    var li = el("li", "msg mine pending" + (item.error ? " failed" : "")); li.id = "out-" + item.client_id;
    var body = el("div", "body", item.body); body.dir = "auto"; li.appendChild(body);
    var foot = el("div", "msg-foot muted");
    foot.appendChild(el("span", "out-status", item.error ? item.error : gettext("Sending…")));
    if (item.error) { var d = el("button", "link-btn", gettext("Discard")); d.type = "button"; d.dataset.discard = item.client_id; foot.appendChild(d); }
    li.appendChild(foot);
    document.getElementById("outbox").appendChild(li);
  }
  function flushOutbox() {
    loadOutbox().forEach(function (item) { if (!item.error) send(Object.assign({ type: "send", group: GROUP, ref: item.client_id }, item.frame)); });
  }
  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) { var r = Math.random() * 16 | 0; return (c === "x" ? r : (r & 3 | 8)).toString(16); });
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
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }
  function connect() {
    clearTimeout(retryTimer);
    if (ws && ws.readyState <= 1) return;
    if (!online()) { setState("offline"); return; }
    setState("connecting");
    var sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
    sock.onopen = function () {
      if (sock !== ws) return;
      backoff = 1000; syncing = false; setState("online");
      sync(); flushOutbox(); flushRead(); refreshCounts(); refreshEscalations();
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null; syncing = false;
      if (ev.code === 4401 || ev.code === 4403) { location.reload(); return; } // signed out
      scheduleConnect();
    };
    sock.onmessage = function (ev) { if (sock === ws) handle(JSON.parse(ev.data)); };
  }
  function handle(f) {
    switch (f.type) {
      case "history":
        if (f.group !== GROUP) break;
        var atBottom = nearBottom();
        f.messages.forEach(function (m) { render(m); lastSeq = Math.max(lastSeq, m.seq); });
        syncing = false;
        if (f.more || f.last_seq > lastSeq) sync();
        if (atBottom && f.messages.length) toBottom();
        if (f.messages.some(function (m) { return m.kind === "instruction"; })) refreshEscalations();
        break;
      case "message.new": accept(f.message); break;
      case "message.update": if (f.message.group === GROUP && document.getElementById("msg-" + f.message.seq)) render(f.message); break;
      case "sent":
        if (f.group !== GROUP) break;
        removeFromOutbox(f.client_id);
        // Its message.new normally follows; if that event was dropped, fetch it from the database.
        setTimeout(function () { if (f.seq > lastSeq) sync(); }, 1500);
        break;
      case "receipt.counts":
        f.counts.forEach(function (c) {
          counts[c.message] = c;
          var m = byId[c.message];
          var a = document.querySelector('[data-counter="' + c.message + '"]');
          if (a && m) fillCounter(a, c, m.requires_ack);
          else if (m) render(m);
        });
        document.dispatchEvent(new CustomEvent("honbu:counts", { detail: f.counts }));
        break;
      case "chase.changed": if (f.group === GROUP) queueEscalation(f.message); break;
      case "reminder": if (window.honbuShowReminder) window.honbuShowReminder(f); break;
      case "ack_ok":
        acked.add(f.message); pendingAck.delete(f.message);
        var b = document.querySelector('[data-ack="' + f.message + '"]');
        if (b) { b.textContent = gettext("Acknowledged"); b.disabled = true; b.classList.add("done"); }
        break;
      case "error":
        if (f.ref === "sync") { syncing = false; showError(f.message); break; }
        var outboxItem = f.ref && typeof f.ref === "string" && document.getElementById("out-" + f.ref);
        // A refused message stays visible with the reason; a server hiccup is retried on reconnect.
        if (outboxItem) { if (f.code !== "server_error") failOutbox(f.ref, f.message); }
        else showError(f.message);
        break;
    }
  }
  function failOutbox(cid, message) {
    var items = loadOutbox(), found = null;
    items.forEach(function (i) { if (i.client_id === cid) { i.error = message; found = i; } });
    saveOutbox(items);
    var p = document.getElementById("out-" + cid);
    if (p) p.remove();
    if (found) renderPending(found);
  }
  function showError(text) {
    var box = document.getElementById("chat-error");
    box.textContent = text; box.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  // --- composer -----------------------------------------------------------------------------
  var form = composerEl;
  if (form) {
    var kindToggle = document.getElementById("as-instruction");
    var instrOpts = document.getElementById("instruction-options");
    var fileInput = form.elements.file;
    var escBox = document.getElementById("esc-override");
    var escLabel = document.getElementById("esc-summary");
    var escDefault = escLabel ? escLabel.textContent : "";
    // The instruction's own chase: only what was changed; the rest follows the group's policy.
    var escalationOverride = function () {
      if (!escBox) return null;
      var o = {}, stop = form.elements.esc_stop.value, first = parseInt(form.elements.esc_first.value, 10);
      if (stop) o.stop_on = stop;
      if (first >= 1) o.first_after = Math.min(first, 10080) * 60;
      return Object.keys(o).length ? o : null;
    };
    var showOverride = function () {
      if (!escLabel) return;
      var o = escalationOverride(), parts = [];
      if (o && o.stop_on) parts.push(form.elements.esc_stop.selectedOptions[0].textContent);
      if (o && o.first_after) parts.push(interpolate(gettext("%s min"), [o.first_after / 60]));
      escLabel.textContent = parts.length ? parts.join(" · ") : escDefault;
      escBox.classList.toggle("changed", !!o);
    };
    if (escBox) { form.elements.esc_stop.addEventListener("change", showOverride); form.elements.esc_first.addEventListener("input", showOverride); }
    var setMode = function () {
      var on = !!(kindToggle && kindToggle.checked);
      if (instrOpts) instrOpts.hidden = !on;
      form.classList.toggle("instruction-mode", on);
    };
    if (kindToggle) kindToggle.addEventListener("change", setMode);
    if (fileInput) fileInput.addEventListener("change", function () {
      var f = fileInput.files[0];
      var label = document.getElementById("attach-name");
      if (label) { label.textContent = f ? f.name : ""; label.hidden = !f; }
    });
    form.elements.body.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = form.elements.body.value.trim();
      var file = fileInput && fileInput.files[0];
      if (!text && !file) { form.elements.body.focus(); return; }
      if (editing) {
        if (!send({ type: "edit", message: editing, body: text })) showError(gettext("Not connected. Try again in a moment."));
        form.reset(); clearReply(); return;
      }
      var cid = uuid4();
      var frame = { client_id: cid, body: text, kind: "message" };
      if (kindToggle && kindToggle.checked) {
        frame.kind = "instruction"; frame.priority = form.elements.priority.value;
        frame.requires_ack = form.elements.requires_ack.checked;
        var override = escalationOverride();
        if (override && !file) frame.escalation = override; // the photo upload (HTTP) takes the group's policy
      }
      if (replyTo) frame.reply_to = replyTo;
      if (file) { upload(frame, file); }
      else {
        var item = { client_id: cid, body: text, frame: frame };
        var items = loadOutbox(); items.push(item); saveOutbox(items);
        renderPending(item);
        send(Object.assign({ type: "send", group: GROUP, ref: cid }, frame));
      }
      form.reset(); clearReply(); setMode();
      if (escBox) { escBox.open = false; showOverride(); }
      var label = document.getElementById("attach-name"); if (label) label.hidden = true;
      toBottom();
    });
  }
  function upload(frame, file) {
    var data = new FormData();
    Object.keys(frame).forEach(function (k) { if (frame[k] !== undefined && frame[k] !== null && frame[k] !== false) data.append(k, frame[k]); });
    data.append("file", file);
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(root.dataset.sendUrl, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; }); })
      .then(function (j) { accept(j.message); })
      .catch(function (e) { showError(gettext("The photo could not be sent.") + " " + e.message); });
  }
  function clearReply() { replyTo = null; editing = null; var b = document.getElementById("reply-banner"); if (b) b.hidden = true; }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("[data-ack]");
    if (a) {
      if (!a.disabled && !send({ type: "ack", message: parseInt(a.dataset.ack, 10) })) showError(gettext("Not connected. Try again in a moment."));
      return;
    }
    var d = ev.target.closest("[data-discard]");
    if (d) { removeFromOutbox(d.dataset.discard); return; }
    var r = ev.target.closest("[data-reply]");
    if (r && form) {
      replyTo = parseInt(r.dataset.reply, 10);
      var banner = document.getElementById("reply-banner");
      banner.querySelector("span").textContent = interpolate(gettext("Replying to %s"), [r.dataset.replyName]);
      banner.hidden = false; form.elements.body.focus(); return;
    }
    var ed = ev.target.closest("[data-edit]");
    if (ed && form) {
      clearReply();
      editing = parseInt(ed.dataset.edit, 10);
      var eb = document.getElementById("reply-banner");
      eb.querySelector("span").textContent = gettext("Editing your message (the original is kept in the record)");
      eb.hidden = false; form.elements.body.value = texts[editing] || ""; form.elements.body.focus(); return;
    }
    var del = ev.target.closest("[data-delete]");
    if (del) {
      if (window.confirm(gettext("Delete this message? Members will see that it was deleted; the record keeps the text."))) {
        if (!send({ type: "delete", message: parseInt(del.dataset.delete, 10) })) showError(gettext("Not connected. Try again in a moment."));
      }
      return;
    }
    if (ev.target.closest("#reply-cancel")) clearReply();
  });

  // --- start --------------------------------------------------------------------------------
  initial.forEach(function (m) { render(m); lastSeq = Math.max(lastSeq, m.seq); });
  loadOutbox().forEach(renderPending);
  window.addEventListener("online", function () { backoff = 1000; connect(); });
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
    else refreshEscalations();
  });
  toBottom();
  connect();
  window.honbuChat = { lastSeq: function () { return lastSeq; }, socket: function () { return ws; } };
})();
