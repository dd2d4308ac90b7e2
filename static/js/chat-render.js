// Honbu chat page (1/4): the shared namespace window.honbuChat (the page's data and the helpers
// the other chat-*.js files use) and message rendering: cards, read/ack counters and, on
// instructions, the live escalation summary. Plain JS; strings come from Django's JavaScript
// catalogue (gettext). Loaded with defer before chat-outbox.js, chat-composer.js, chat-live.js.
//
// Invariant: a message is drawn once, keyed by its sequence number (re-drawing replaces it).
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) return;
  var GROUP = parseInt(root.dataset.group, 10);
  var ME = parseInt(root.dataset.me, 10);
  var CAN_SEE_COUNTS_ALL = root.dataset.commander === "1";
  var list = document.getElementById("messages");
  var counts = JSON.parse(document.getElementById("counts-data").textContent);
  var acked = new Set(JSON.parse(document.getElementById("acked-data").textContent));
  var pendingAck = new Set(JSON.parse(document.getElementById("pending-ack-data").textContent));
  var initial = JSON.parse(document.getElementById("messages-data").textContent);
  // Messages rendered with the page: my receipts for them are known (acked / pendingAck).
  // Anything that arrives later was sent while I was a member, so I am one of its recipients.
  var fromPage = new Set(initial.map(function (m) { return m.id; }));
  var byId = {};
  var texts = {}; // message id → its text, for the composer's Edit
  var EDIT_MS = (parseFloat(root.dataset.editMinutes) || 0) * 60000;
  var esc = {}; // message id → escalation summary {reminded, escalated, unreached, covered}

  // What the chat files share. chat-outbox.js, chat-composer.js and chat-live.js add their own
  // functions to it; chat-live.js also adds lastSeq() and socket().
  var ns = window.honbuChat = {
    root: root, GROUP: GROUP, ME: ME, list: list, initial: initial,
    counts: counts, acked: acked, pendingAck: pendingAck, byId: byId, texts: texts
  };

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
    li.className = "msg" + (m.sender_id === ME ? " mine" : "") + (m.kind === "instruction" ? " instruction prio-" + m.priority : "") + (m.deleted ? " deleted" : "") + (m.exercise ? " exercise" : "");
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
      a.href = "/messages/m/" + m.id + "/pending/"; // who has not answered, first
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
    ns.observe(li, m); // read receipts (chat-live.js)
    if (m.sender_id === ME) ns.removeFromOutbox(m.client_id); // delivered (chat-outbox.js)
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

  function showError(text) {
    var box = document.getElementById("chat-error");
    box.textContent = text; box.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  ns.el = el;
  ns.render = render;
  ns.fillCounter = fillCounter;
  ns.queueEscalation = queueEscalation;
  ns.refreshEscalations = refreshEscalations;
  ns.nearBottom = nearBottom;
  ns.toBottom = toBottom;
  ns.showError = showError;
})();
