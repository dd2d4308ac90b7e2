// Arrival alerts on every signed-in page. An important or urgent instruction from someone else
// shows an overlay at once (sender, first line; one tap opens it), wherever the person is in
// Honbu; the Groups tab badge and the page title count what is unread; urgent ones also sound
// (once the page has been touched: browsers allow audio only after a gesture) and vibrate.
// Fed by the page's socket: honbu.js (every page) and chat-live.js (the chat page) call
// window.honbuArrival(frame) for each frame. Plain JS, no build step.
(function () {
  "use strict";
  var ME = parseInt(document.body.dataset.me || "0", 10);
  var badge = document.getElementById("tab-count");
  var counts = {};
  try { counts = JSON.parse((badge && badge.dataset.counts) || "{}"); } catch (e) { counts = {}; }
  var baseTitle = document.title;
  var overlay = null, pending = 0, audio = null;

  function chatGroup() {
    var chat = document.getElementById("chat");
    return chat ? parseInt(chat.dataset.group, 10) : 0;
  }
  function total() {
    var n = 0;
    for (var g in counts) if (Object.prototype.hasOwnProperty.call(counts, g)) n += counts[g] || 0;
    return n;
  }
  function paint() {
    var n = total();
    if (badge) { badge.textContent = n > 99 ? "99+" : String(n); badge.hidden = n === 0; }
    var flag = overlay && !overlay.hidden ? overlay.dataset.flag + " " : "";
    document.title = flag + (n ? "(" + n + ") " : "") + baseTitle;
  }

  // Audio may start only after the person has touched the page once.
  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try { audio = audio || new Ctx(); if (audio.state === "suspended") audio.resume(); } catch (e) { audio = null; }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true, capture: true });
  document.addEventListener("keydown", unlockAudio, { once: true, capture: true });
  function sound() {
    if (!audio || audio.state !== "running") return;
    [0, 0.35, 0.7].forEach(function (at) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square"; osc.frequency.value = 880;
      gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.2);
    });
  }

  var BIDI = /[\u202a-\u202e\u2066-\u2069]/g; // the server's rule: no reordering on screen
  function firstLine(text) {
    var line = (text || "").replace(BIDI, "").split("\n").filter(function (l) { return l.trim(); })[0] || "";
    return line.length > 120 ? line.slice(0, 119) + "…" : line;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  function show(m) {
    var urgent = m.priority === "urgent";
    if (!overlay) {
      overlay = el("div", "arrival");
      overlay.id = "arrival";
      overlay.setAttribute("role", "alertdialog");
      overlay.setAttribute("aria-live", "assertive");
      document.body.appendChild(overlay);
    }
    if (!overlay.hidden && overlay.firstChild && overlay.dataset.exercise === "0" && m.exercise) {
      pending += 1; // a real instruction on screen stays on top of any exercise one
      var more = overlay.querySelector(".arrival-more") || overlay.insertBefore(el("p", "arrival-more"), overlay.querySelector(".arrival-open"));
      more.textContent = interpolate(gettext("and %s more"), [pending]);
      return;
    }
    pending = overlay.hidden || !overlay.firstChild ? 0 : pending + 1;
    overlay.innerHTML = "";
    overlay.hidden = false;
    overlay.dataset.priority = m.priority;
    overlay.dataset.message = m.id;
    overlay.dataset.flag = urgent ? gettext("[URGENT]") : gettext("[IMPORTANT]");
    overlay.dataset.exercise = m.exercise ? "1" : "0";
    var drill = m.exercise ? gettext("[DRILL]") + " " : ""; // an exercise never looks real
    var head = el("p", "arrival-head", drill + (urgent ? gettext("Urgent instruction") : gettext("Important instruction")));
    var who = el("p", "arrival-from", m.sender_post ? m.sender_post + " " + m.sender_name : m.sender_name);
    var text = el("p", "arrival-text", firstLine(m.text));
    var open = el("a", "btn btn-block arrival-open", gettext("Open the instruction"));
    open.href = "/messages/g/" + m.group + "/#msg-" + m.seq;
    open.addEventListener("click", function () { overlay.hidden = true; paint(); });
    var later = el("button", "btn btn-secondary btn-block arrival-close", gettext("Later"));
    later.type = "button";
    later.addEventListener("click", function () { overlay.hidden = true; pending = 0; paint(); });
    overlay.appendChild(head);
    overlay.appendChild(who);
    overlay.appendChild(text);
    if (pending) overlay.appendChild(el("p", "arrival-more", interpolate(gettext("and %s more"), [pending])));
    overlay.appendChild(open);
    overlay.appendChild(later);
    open.focus({ preventScroll: true });
    if (urgent) {
      sound();
      if (navigator.vibrate) navigator.vibrate([300, 150, 300, 150, 300]);
    } else if (navigator.vibrate) {
      navigator.vibrate(200);
    }
    paint();
  }

  window.honbuArrival = function (f) {
    if (!f) return;
    if (f.type === "unread.changed") { counts[f.group] = f.unread; paint(); return; }
    if (f.type !== "message.new" || !f.message) return;
    var m = f.message;
    if (m.sender_id === ME || m.deleted) return;
    counts[m.group] = (counts[m.group] || 0) + 1; // unread.changed corrects it once read
    var alerting = m.kind === "instruction" && (m.priority === "urgent" || m.priority === "important");
    // The drill's control page runs the exercise: its own injects do not cover it.
    if (m.exercise && document.querySelector("[data-quiet-exercise]")) alerting = false;
    if (alerting && m.group !== chatGroup()) show(m);
    else if (alerting && m.priority === "urgent" && navigator.vibrate) navigator.vibrate([300, 150, 300]);
    paint();
  };
})();
