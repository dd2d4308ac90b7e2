// The ringing screen on every signed-in page, and the "conference call now" banner. Fed by the
// page's socket: honbu.js's shared one (honbuLive.onFrame) and the chat page's own
// (chat-live.js calls window.honbuCalls(frame)). "Answer" opens the call page, which answers;
// "Decline" declines over the socket (or by a form when the socket is down). The call page
// itself (call.js) shows its own call. Plain JS; strings from Django's catalogue.
(function () {
  "use strict";
  if (!document.body.dataset.signedIn) return;
  var overlay = null, ringing = null, audio = null, toneTimer = null, buzzTimer = null, hideTimer = null;

  function pageCall() {
    var el = document.getElementById("call");
    return el ? parseInt(el.dataset.call, 10) : 0;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  function sendFrame(frame) {
    if (window.honbuLive && window.honbuLive.send(frame)) return true;
    return !!(window.honbuChat && window.honbuChat.send && window.honbuChat.send(frame));
  }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // Audio may play only after the person has touched the page once (then: a ring tone).
  function unlock() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try { audio = audio || new Ctx(); if (audio.state === "suspended") audio.resume(); } catch (e) { audio = null; }
  }
  document.addEventListener("pointerdown", unlock, { once: true, capture: true });
  function tone() {
    if (!audio || audio.state !== "running") return;
    [0, 0.45].forEach(function (at) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = at ? 480 : 440;
      gain.gain.value = 0.06;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.4);
    });
  }
  function stopRinging() {
    clearInterval(toneTimer); clearInterval(buzzTimer); clearTimeout(hideTimer);
    toneTimer = buzzTimer = null;
    if (navigator.vibrate) navigator.vibrate(0);
  }

  function outcomeText(s) {
    if (s.state === "active") return gettext("Answered on another device.");
    switch (s.outcome) {
      case "declined": return gettext("You declined the call.");
      case "cancelled": return gettext("Missed call: the caller hung up.");
      case "no_answer": return gettext("Missed call.");
      case "failed": return gettext("The call could not be connected (network problem).");
      default: return gettext("The call has ended.");
    }
  }

  function show(f) {
    if (f.call === pageCall()) return; // the call page shows its own call
    hide();
    ringing = f.call;
    overlay = el("div", "call-ring");
    overlay.id = "call-ring";
    overlay.setAttribute("role", "alertdialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-labelledby", "call-ring-name");
    overlay.dataset.call = f.call;
    var top = el("div");
    top.appendChild(el("p", "ring-label", gettext("Incoming call")));
    var av = el("span", "avatar", (f.caller || "?").slice(0, 1));
    av.setAttribute("aria-hidden", "true");
    top.appendChild(av);
    var name = el("h2", "", f.caller);
    name.id = "call-ring-name";
    top.appendChild(name);
    if (f.caller_post) top.appendChild(el("p", "ring-post", f.caller_post));
    top.appendChild(el("p", "ring-note", gettext("Calls are not recorded.")));
    overlay.appendChild(top);
    var actions = el("div", "call-actions");
    var decline = el("button", "call-btn call-decline");
    decline.type = "button"; decline.id = "ring-decline";
    decline.innerHTML = '<svg aria-hidden="true" viewBox="0 0 24 24"><path d="M12 9c-1.6 0-3.15.25-4.6.72v3.1a1 1 0 0 1-.56.9c-.98.49-1.87 1.12-2.66 1.85a1 1 0 0 1-1.41-.02L.29 13.08a1 1 0 0 1 0-1.41A16.9 16.9 0 0 1 12 7c4.54 0 8.66 1.78 11.71 4.67a1 1 0 0 1 0 1.41l-2.48 2.48a1 1 0 0 1-1.41.02 11.3 11.3 0 0 0-2.67-1.85 1 1 0 0 1-.56-.9v-3.1A15 15 0 0 0 12 9z"/></svg>';
    decline.appendChild(el("span", "", gettext("Decline")));
    decline.addEventListener("click", function () { declineCall(f.call); });
    var answer = el("a", "call-btn call-answer");
    answer.id = "ring-answer";
    answer.href = f.url + "?answer=1";
    answer.innerHTML = '<svg aria-hidden="true" viewBox="0 0 24 24"><path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25c1.1.37 2.3.57 3.6.57a1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/></svg>';
    answer.appendChild(el("span", "", gettext("Answer")));
    answer.addEventListener("click", stopRinging);
    actions.appendChild(decline);
    actions.appendChild(answer);
    overlay.appendChild(actions);
    document.body.appendChild(overlay);
    answer.focus();
    tone(); toneTimer = setInterval(tone, 3000);
    if (navigator.vibrate) { navigator.vibrate([600, 400, 600]); buzzTimer = setInterval(function () { navigator.vibrate([600, 400, 600]); }, 3000); }
    // The server ends an unanswered call at ring_until; if that frame is lost, stop anyway.
    var left = Date.parse(f.ring_until) - Date.now();
    hideTimer = setTimeout(function () { finish(gettext("Missed call.")); }, Math.max(5000, (left || 30000) + 5000));
  }

  function declineCall(id) {
    if (!sendFrame({ type: "call.decline", call: id, ref: "ring-decline" })) {
      fetch("/calls/" + id + "/decline/", { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
        .catch(function () {});
    }
    finish(gettext("You declined the call."));
  }

  // The ringing stops; the outcome stays readable a moment (missed, answered elsewhere …).
  function finish(text) {
    stopRinging();
    if (!overlay) return;
    var o = overlay;
    o.querySelector(".call-actions").hidden = true;
    var p = o.querySelector(".ring-outcome") || o.appendChild(el("p", "ring-outcome"));
    p.setAttribute("role", "status");
    p.textContent = text;
    setTimeout(function () { if (overlay === o) hide(); }, 2500);
  }
  function hide() {
    stopRinging();
    if (overlay) overlay.remove();
    overlay = null; ringing = null;
  }

  // A conference started (or ended) in one of the person's groups.
  function conference(f) {
    var id = "call-banner-" + f.group;
    var bar = document.getElementById(id);
    if (!f.live || f.call === pageCall()) { if (bar) bar.remove(); return; }
    if (bar) return;
    bar = el("div", "call-banner");
    bar.id = id;
    bar.setAttribute("role", "status");
    var a = el("a", "", interpolate(gettext("Conference call in %s · Join ›"), [f.group_name]));
    a.href = f.url + "?join=1";
    bar.appendChild(a);
    var close = el("button", "", "×");
    close.type = "button";
    close.setAttribute("aria-label", gettext("Close"));
    close.addEventListener("click", function () { bar.remove(); });
    bar.appendChild(close);
    var main = document.getElementById("main");
    main.parentNode.insertBefore(bar, main);
  }

  function onFrame(f) {
    if (!f || typeof f.type !== "string") return;
    if (f.type === "call.ring") show(f);
    else if (f.type === "call.state" && ringing === f.call && f.state.state !== "ringing") finish(outcomeText(f.state));
    else if (f.type === "call.conference") conference(f);
  }
  window.honbuCalls = onFrame;
  // How the notification banner words calls' kinds (honbu.js asks).
  window.honbuReminderText = function (f) {
    return { call_missed: gettext("Missed call"), call_conference: gettext("A conference call has started."),
             call_ring: gettext("Incoming call") }[f.kind];
  };
  document.addEventListener("DOMContentLoaded", function () {
    if (window.honbuLive) window.honbuLive.onFrame(onFrame);
  });
})();
