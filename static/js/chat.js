// Honbu chat page: one websocket, database-backed catch-up by sequence number, an outbox kept
// in localStorage across reloads, read receipts when a message is on screen, 了解 button and
// live read/ack counters. Plain JS; strings come from Django's JavaScript catalogue (gettext).
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) return;
  var t = window.gettext || function (s) { return s; };
  var fmt = window.interpolate || function (s, a) { return s.replace(/%s/g, function () { return a.shift(); }); };
  var GROUP = parseInt(root.dataset.group, 10);
  var ME = parseInt(root.dataset.me, 10);
  var CAN_SEE_COUNTS_ALL = root.dataset.commander === "1";
  var list = document.getElementById("messages");
  var stateEl = document.getElementById("conn-state");
  var OUTBOX_KEY = "honbu.outbox." + ME + "." + GROUP;
  var lastSeq = 0, ws = null, backoff = 1000, readSent = 0, readTimer = null, syncing = false;
  var counts = JSON.parse(document.getElementById("counts-data").textContent);
  var acked = new Set(JSON.parse(document.getElementById("acked-data").textContent));
  var pendingAck = new Set(JSON.parse(document.getElementById("pending-ack-data").textContent));
  var replyTo = null;

  // --- connection state ---------------------------------------------------------------------
  function setState(state) {
    var labels = { online: t("Connected"), connecting: t("Reconnecting…"), offline: t("Offline") };
    if (stateEl) { stateEl.textContent = labels[state]; stateEl.className = "conn " + state; }
    root.dataset.conn = state;
  }

  // --- rendering ----------------------------------------------------------------------------
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function timeOf(iso) { var d = new Date(iso); return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  function priorityLabel(p) { return { urgent: t("Urgent"), important: t("Important"), normal: t("Instruction") }[p] || p; }

  function counterText(c) {
    var s = fmt(t("Read %s/%s"), [c.read, c.total]);
    return s + " · " + fmt(t("Ack %s/%s"), [c.acked, c.total]);
  }

  function render(m) {
    var li = document.getElementById("msg-" + m.seq) || el("li");
    li.id = "msg-" + m.seq;
    li.dataset.seq = m.seq; li.dataset.id = m.id;
    li.className = "msg" + (m.sender_id === ME ? " mine" : "") + (m.kind === "instruction" ? " instruction prio-" + m.priority : "") + (m.deleted ? " deleted" : "");
    li.innerHTML = "";
    var head = el("div", "msg-head");
    if (m.kind === "instruction") head.appendChild(el("span", "badge prio prio-" + m.priority, priorityLabel(m.priority)));
    head.appendChild(el("strong", "who", m.sender_name));
    if (m.sender_post) head.appendChild(el("span", "muted", " " + m.sender_post));
    head.appendChild(el("time", "muted when", timeOf(m.created_at)));
    li.appendChild(head);
    if (m.reply_to) {
      var q = el("a", "quote", m.reply_to.sender_name + ": " + (m.reply_to.excerpt || t("(deleted)")));
      q.href = "#msg-" + m.reply_to.seq;
      li.appendChild(q);
    }
    var body = el("div", "body");
    body.dir = "auto";
    if (m.deleted) body.textContent = t("This message was deleted.");
    else body.innerHTML = m.html; // sanitised on the server (messaging/rendering.py)
    li.appendChild(body);
    (m.attachments || []).forEach(function (a) {
      var link = el("a", "attachment"); link.href = a.url;
      if (a.is_image) { var img = el("img"); img.src = a.thumb || a.url; img.alt = a.name; img.loading = "lazy"; link.appendChild(img); }
      else link.textContent = "📎 " + a.name;
      li.appendChild(link);
    });
    var foot = el("div", "msg-foot");
    if (m.edited && !m.deleted) foot.appendChild(el("span", "muted", t("edited")));
    var c = counts[m.id];
    if (c && (m.sender_id === ME || CAN_SEE_COUNTS_ALL)) {
      var a = el("a", "counter", counterText(c));
      a.href = "/messages/m/" + m.id + "/receipts/";
      a.dataset.counter = m.id;
      foot.appendChild(a);
    }
    if (m.requires_ack && m.sender_id !== ME && !m.deleted && (pendingAck.has(m.id) || acked.has(m.id))) {
      var done = acked.has(m.id);
      var b = el("button", "btn ack-btn" + (done ? " done" : ""), done ? t("Acknowledged") : t("了解 (Acknowledge)"));
      b.type = "button"; b.disabled = done; b.dataset.ack = m.id;
      foot.appendChild(b);
    }
    if (!m.deleted && root.dataset.canPost === "1") {
      var r = el("button", "link-btn", t("Reply")); r.type = "button"; r.dataset.reply = m.id;
      r.dataset.replyName = m.sender_name; foot.appendChild(r);
    }
    li.appendChild(foot);
    if (!li.parentNode) insertInOrder(li);
    observe(li, m);
  }

  function insertInOrder(li) {
    var seq = parseInt(li.dataset.seq, 10), items = list.querySelectorAll("li.msg");
    for (var i = items.length - 1; i >= 0; i--) {
      if (parseInt(items[i].dataset.seq, 10) < seq) { items[i].after(li); return; }
    }
    list.prepend(li);
  }

  function accept(m) {
    if (m.group !== GROUP) return;
    if (m.seq > lastSeq + 1 && lastSeq > 0 && !syncing) { sync(); return; } // a gap: fetch from the DB
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    render(m);
    if (m.seq === lastSeq + 1 || lastSeq === 0) lastSeq = Math.max(lastSeq, m.seq);
    if (m.sender_id === ME) removeFromOutbox(m.client_id);
    if (atBottom || m.sender_id === ME) window.scrollTo(0, document.body.scrollHeight);
  }

  // --- read receipts: a message counts as read once it has been on screen -------------------
  var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting && document.visibilityState === "visible") markRead(parseInt(e.target.dataset.seq, 10));
    });
  }, { threshold: 0.6 }) : null;
  function observe(li, m) { if (m.sender_id !== ME && io) io.observe(li); }
  var readWanted = 0;
  function markRead(seq) {
    if (seq <= readSent) return;
    readWanted = Math.max(readWanted, seq);
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      if (readWanted > readSent && send({ type: "read", group: GROUP, up_to_seq: readWanted })) readSent = readWanted;
    }, 300);
  }

  // --- outbox (survives reloads and lost connections) ---------------------------------------
  function loadOutbox() { try { return JSON.parse(localStorage.getItem(OUTBOX_KEY)) || []; } catch (e) { return []; } }
  function saveOutbox(items) { localStorage.setItem(OUTBOX_KEY, JSON.stringify(items)); }
  function removeFromOutbox(cid) {
    saveOutbox(loadOutbox().filter(function (i) { return i.client_id !== cid; }));
    var p = document.getElementById("out-" + cid); if (p) p.remove();
  }
  function renderPending(item) {
    if (document.getElementById("out-" + item.client_id)) return;
    var li = el("li", "msg mine pending"); li.id = "out-" + item.client_id;
    var body = el("div", "body", item.body); body.dir = "auto"; li.appendChild(body);
    li.appendChild(el("div", "msg-foot muted", item.error ? item.error : t("Sending…")));
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
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame)); return true;
  }
  function sync() { syncing = true; send({ type: "sync", group: GROUP, after_seq: lastSeq }); }
  function connect() {
    setState(navigator.onLine === false ? "offline" : "connecting");
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
    ws.onopen = function () { backoff = 1000; setState("online"); sync(); flushOutbox(); };
    ws.onclose = function (ev) {
      setState(navigator.onLine === false ? "offline" : "connecting");
      if (ev.code === 4401 || ev.code === 4403) { location.reload(); return; } // signed out
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 15000);
    };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      switch (f.type) {
        case "history":
          if (f.group !== GROUP) break;
          f.messages.forEach(function (m) { render(m); lastSeq = Math.max(lastSeq, m.seq); if (m.sender_id === ME) removeFromOutbox(m.client_id); });
          syncing = false;
          if (f.more) sync();
          break;
        case "message.new": accept(f.message); break;
        case "message.update": if (f.message.group === GROUP) render(f.message); break;
        case "sent": removeFromOutbox(f.client_id); break;
        case "receipt.counts":
          f.counts.forEach(function (c) {
            counts[c.message] = c;
            var a = document.querySelector('[data-counter="' + c.message + '"]');
            if (a) a.textContent = counterText(c);
            else { var li = document.querySelector('li.msg[data-id="' + c.message + '"]'); if (li) li.dispatchEvent(new Event("rerender")); }
          });
          document.dispatchEvent(new CustomEvent("honbu:counts", { detail: f.counts }));
          break;
        case "ack_ok":
          acked.add(f.message); pendingAck.delete(f.message);
          var b = document.querySelector('[data-ack="' + f.message + '"]');
          if (b) { b.textContent = t("Acknowledged"); b.disabled = true; b.classList.add("done"); }
          break;
        case "error":
          if (f.ref && typeof f.ref === "string") {
            var items = loadOutbox();
            items.forEach(function (i) { if (i.client_id === f.ref) i.error = f.message; });
            saveOutbox(items);
            var p = document.getElementById("out-" + f.ref);
            if (p) { p.classList.add("failed"); p.querySelector(".msg-foot").textContent = f.message; }
          } else showError(f.message);
          break;
      }
    };
  }
  function showError(text) {
    var box = document.getElementById("chat-error");
    box.textContent = text; box.hidden = false;
    setTimeout(function () { box.hidden = true; }, 6000);
  }

  // --- composer -----------------------------------------------------------------------------
  var form = document.getElementById("composer");
  if (form) {
    var kindToggle = document.getElementById("as-instruction");
    var instrOpts = document.getElementById("instruction-options");
    if (kindToggle) kindToggle.addEventListener("change", function () { instrOpts.hidden = !kindToggle.checked; form.classList.toggle("instruction-mode", kindToggle.checked); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = form.elements.body.value.trim();
      var file = form.elements.file && form.elements.file.files[0];
      if (!text && !file) return;
      var cid = uuid4();
      var frame = { client_id: cid, body: text, kind: "message" };
      if (kindToggle && kindToggle.checked) {
        frame.kind = "instruction"; frame.priority = form.elements.priority.value;
        frame.requires_ack = form.elements.requires_ack.checked;
      }
      if (replyTo) frame.reply_to = replyTo;
      if (file) { upload(frame, file); }
      else {
        var item = { client_id: cid, body: text, frame: frame };
        var items = loadOutbox(); items.push(item); saveOutbox(items);
        renderPending(item);
        send(Object.assign({ type: "send", group: GROUP, ref: cid }, frame));
      }
      form.reset(); clearReply();
      if (instrOpts) instrOpts.hidden = true; form.classList.remove("instruction-mode");
      window.scrollTo(0, document.body.scrollHeight);
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
      .catch(function (e) { showError(t("The photo could not be sent.") + " " + e.message); });
  }
  function clearReply() { replyTo = null; var b = document.getElementById("reply-banner"); if (b) b.hidden = true; }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("[data-ack]");
    if (a && !a.disabled) { if (!send({ type: "ack", message: parseInt(a.dataset.ack, 10) })) showError(t("Not connected. Try again in a moment.")); return; }
    var r = ev.target.closest("[data-reply]");
    if (r) {
      replyTo = parseInt(r.dataset.reply, 10);
      var banner = document.getElementById("reply-banner");
      banner.querySelector("span").textContent = fmt(t("Replying to %s"), [r.dataset.replyName]);
      banner.hidden = false; form.elements.body.focus(); return;
    }
    if (ev.target.closest("#reply-cancel")) clearReply();
  });

  // --- start --------------------------------------------------------------------------------
  JSON.parse(document.getElementById("messages-data").textContent).forEach(function (m) { render(m); lastSeq = Math.max(lastSeq, m.seq); });
  loadOutbox().forEach(renderPending);
  window.addEventListener("online", function () { if (!ws || ws.readyState > 1) connect(); });
  window.addEventListener("offline", function () { setState("offline"); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") list.querySelectorAll("li.msg").forEach(function (li) { if (io) { io.unobserve(li); io.observe(li); } });
  });
  window.scrollTo(0, document.body.scrollHeight);
  connect();
  window.honbuChat = { lastSeq: function () { return lastSeq; }, socket: function () { return ws; } };
})();
