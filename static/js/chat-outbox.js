// Honbu chat page (2/4): the outbox. Each message typed is kept in localStorage (one list per
// person and group) and shown as "sending" until it is delivered, so a reload or a lost connection
// loses nothing; it is re-sent on every (re)connect, and its client id (a UUID made here) lets the
// server drop repeats. A message the server refuses stays with the reason and a Discard button.
// Plain JS; uses window.honbuChat (chat-render.js) and its send() (chat-live.js).
(function () {
  "use strict";
  var ns = window.honbuChat;
  if (!ns) return;
  var GROUP = ns.GROUP, el = ns.el;
  var OUTBOX_KEY = "honbu.outbox." + ns.ME + "." + GROUP;

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
  // A new message ({client_id, body, frame}): stored and shown first, then sent if connected.
  function addToOutbox(item) {
    var items = loadOutbox(); items.push(item); saveOutbox(items);
    renderPending(item);
    ns.send(Object.assign({ type: "send", group: GROUP, ref: item.client_id }, item.frame));
  }
  function flushOutbox() {
    loadOutbox().forEach(function (item) { if (!item.error) ns.send(Object.assign({ type: "send", group: GROUP, ref: item.client_id }, item.frame)); });
  }
  function failOutbox(cid, message) {
    var items = loadOutbox(), found = null;
    items.forEach(function (i) { if (i.client_id === cid) { i.error = message; found = i; } });
    saveOutbox(items);
    var p = document.getElementById("out-" + cid);
    if (p) p.remove();
    if (found) renderPending(found);
  }
  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) { var r = Math.random() * 16 | 0; return (c === "x" ? r : (r & 3 | 8)).toString(16); });
  }

  // --- 了解 taps waiting for their answer (the server writes them in batches) --------------
  // Kept until ack_ok (or a refusal) arrives, and sent again on every (re)connect: a server
  // that went away before writing its batch never answered, and a repeat changes nothing.
  var ACKS_KEY = "honbu.acks." + ns.ME;
  function loadAcks() { try { return JSON.parse(localStorage.getItem(ACKS_KEY)) || []; } catch (e) { return []; } }
  function saveAcks(ids) {
    try { if (ids.length) localStorage.setItem(ACKS_KEY, JSON.stringify(ids)); else localStorage.removeItem(ACKS_KEY); } catch (e) { /* private mode */ }
  }
  function sendAck(id) { return ns.send({ type: "ack", message: id, ref: "ack-" + id }); }
  function addAck(id) {
    var ids = loadAcks(); if (ids.indexOf(id) < 0) { ids.push(id); saveAcks(ids); }
    return sendAck(id);
  }
  function ackAnswered(id) { saveAcks(loadAcks().filter(function (i) { return i !== id; })); }
  function flushAcks() { loadAcks().forEach(sendAck); }

  ns.addAck = addAck;
  ns.ackAnswered = ackAnswered;
  ns.flushAcks = flushAcks;
  ns.loadOutbox = loadOutbox;
  ns.renderPending = renderPending;
  ns.removeFromOutbox = removeFromOutbox;
  ns.addToOutbox = addToOutbox;
  ns.flushOutbox = flushOutbox;
  ns.failOutbox = failOutbox;
  ns.uuid4 = uuid4;
})();
