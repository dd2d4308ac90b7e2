// Honbu call page: a one-to-one call or a group conference, in WebRTC (audio), signalled over
// the page's shared socket (honbu.js: window.honbuLive). Plain JS, no build step. Frames are
// documented in docs/calls.md.
//
// Who offers: of two legs, the one with the lower id (the caller; in a conference whoever
// joined first). The answering side creates its connection too, adopts the offer's "session"
// and answers; a new session (the other page was reloaded) replaces the connection. Trouble
// (ICE "disconnected" for a few seconds, "failed", the socket coming back after a network
// change) makes the offering side restart ICE; the answering side asks it to. A connection that
// stays down FAIL_AFTER ms is reported (call.fail) and shown as a network failure.
(function () {
  "use strict";
  var root = document.getElementById("call");
  if (!root || !window.honbuLive) return;
  var live = window.honbuLive;
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var CALL = parseInt(root.dataset.call, 10), ME = parseInt(root.dataset.me, 10);
  var KIND = root.dataset.kind, MODE = root.dataset.mode || "";
  var MODERATOR = root.dataset.moderator === "1", LISTEN_ONLY = root.dataset.listenOnly === "1";
  var FAIL_AFTER = 20000, DISCONNECT_GRACE = 2500, SPEAKING = 0.02;

  var state = JSON.parse(document.getElementById("call-state").textContent);
  var want = null;            // "answer" | "join": what this page was asked to do
  var held = false, heldOnce = false, myLeg = 0, iceServers = [], local = null, muted = false;
  var peers = {};             // leg id -> {pc, session, epoch, offerer, pending, troubleSince, ...}
  var levels = {};            // leg id -> 0..1 (and "me")
  var over = false, refs = 0, taking = false, early = [];

  function $(id) { return document.getElementById(id); }
  var els = {
    status: $("call-status"), timer: $("call-timer"), error: $("call-error"), people: $("call-people"),
    ringing: $("call-ringing"), joinBar: $("call-join-bar"), controls: $("call-controls"),
    mute: $("call-mute"), muteLabel: $("call-mute-label"), after: $("call-after"), audio: $("call-audio"),
    endAll: $("call-end-all"), hear: $("call-hear")
  };

  function send(frame) { return live.send(frame); }
  function ref() { return "call-" + (++refs); }
  function showError(text) { els.error.textContent = text || ""; els.error.hidden = !text; }
  function mine(s) { return s.legs.filter(function (l) { return l.id === myLeg; })[0]; }
  function iAmCaller() { return state.caller && state.caller.user === ME; }
  function dur(sec) {
    sec = Math.max(0, Math.floor(sec || 0));
    var h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }
  function randomId() { return Math.random().toString(36).slice(2, 12) + Date.now().toString(36).slice(-4); }

  // --- the microphone ------------------------------------------------------------------------
  function getMedia() {
    if (LISTEN_ONLY || local) return Promise.resolve(local);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError(gettext("This browser cannot use the microphone here (a secure https:// page is needed)."));
      return Promise.resolve(null);
    }
    return navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false
    }).then(function (stream) {
      local = stream;
      applyMute();
      return local;
    }).catch(function () {
      showError(gettext("The microphone cannot be used: you can listen, but not speak."));
      return null;
    });
  }
  function applyMute() {
    if (local) local.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
    els.mute.setAttribute("aria-pressed", muted ? "true" : "false");
    els.muteLabel.textContent = muted ? gettext("Unmute") : gettext("Mute");
  }
  function setMuted(value) {
    muted = value;
    applyMute();
    if (held) send({ type: "call.media", call: CALL, muted: muted, ref: ref() });
  }

  // --- taking the call -----------------------------------------------------------------------
  function start(action) {
    if (over) return;
    want = action;
    render();
    getMedia().then(function () { if (!over) take(); });
  }
  function take() {
    if (!want || over || taking) return;
    var frame = { call: CALL, ref: ref() };
    if (heldOnce) { frame.type = "call.join"; frame.fresh = false; }   // the socket came back
    else if (want === "answer") frame.type = "call.answer";
    else { frame.type = "call.join"; frame.fresh = true; }
    taking = send(frame); // if the socket is down, onOpen sends it
  }
  live.onOpen(function () {
    taking = false;
    send({ type: "call.watch", call: CALL, ref: ref() });
    if (want && !over) getMedia().then(take);
  });

  function onJoined(f) {
    var again = heldOnce;
    taking = false;
    held = heldOnce = true;
    myLeg = f.leg;
    iceServers = f.ice_servers || [];
    showError("");
    if (muted || LISTEN_ONLY) send({ type: "call.media", call: CALL, muted: true, ref: ref() });
    applyState(f.state, true);
    var queued = early; early = [];
    queued.forEach(onSignal); // signals that overtook call.joined
    if (again) { // back after a network change: fresh TURN credentials, then ICE restart
      forEachPeer(function (p) {
        try { p.pc.setConfiguration({ iceServers: iceServers }); } catch (e) { /* kept */ }
        trouble(p); restart(p);
      });
    }
  }

  // --- the call's state from the server ------------------------------------------------------
  function applyState(s, force) {
    if (!s || s.call !== CALL) return;
    if (!force && s.version < state.version) return; // an older state arrived late
    state = s;
    if (s.state === "ended") { finish(); return; }
    if (held && !mine(s)) { // our leg is gone (left, or taken by another page)
      teardown(); held = false; want = null;
    }
    if (held) syncPeers();
    render();
  }

  function syncPeers() {
    var wanted = {};
    state.legs.forEach(function (l) {
      if (l.id === myLeg || !l.bound) return;
      wanted[l.id] = true;
      var p = peers[l.id];
      if (p && p.epoch !== l.epoch && p.offerer) { closePeer(p); p = null; } // their page is new
      if (!p) {
        p = makePeer(l.id, l.epoch);
        if (p.offerer) offer(p, false);
      }
      p.epoch = l.epoch;
    });
    forEachPeer(function (p) { if (!wanted[p.id]) closePeer(p); });
  }

  // --- peer connections ------------------------------------------------------------------------
  function forEachPeer(fn) { Object.keys(peers).forEach(function (k) { fn(peers[k]); }); }

  function makePeer(id, epoch) {
    var pc = new RTCPeerConnection({ iceServers: iceServers });
    var p = { id: id, epoch: epoch, pc: pc, offerer: myLeg < id, session: null, pending: [],
              troubleSince: Date.now(), restartTimer: null, audio: null, needRestart: false,
              stats: {}, connected: false };
    if (p.offerer) p.session = randomId();
    if (local) local.getTracks().forEach(function (t) { pc.addTrack(t, local); });
    else if (p.offerer) pc.addTransceiver("audio", { direction: "recvonly" });
    pc.onicecandidate = function (e) {
      if (e.candidate && e.candidate.candidate && p.session) signal(p, { candidate: e.candidate.toJSON() });
    };
    pc.ontrack = function (e) {
      if (!p.audio) {
        p.audio = document.createElement("audio");
        p.audio.autoplay = true;
        p.audio.setAttribute("playsinline", "");
        els.audio.appendChild(p.audio);
      }
      p.audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      var played = p.audio.play();
      if (played && played.catch) played.catch(function () { els.hear.hidden = false; });
    };
    pc.oniceconnectionstatechange = function () { watch(p); };
    pc.onconnectionstatechange = function () { watch(p); };
    peers[id] = p;
    return p;
  }
  function closePeer(p) {
    clearTimeout(p.restartTimer);
    try { p.pc.close(); } catch (e) { /* closed */ }
    if (p.audio) { p.audio.srcObject = null; p.audio.remove(); }
    delete peers[p.id];
    delete levels[p.id];
  }
  function signal(p, body) {
    body.type = "call.signal"; body.call = CALL; body.to = p.id; body.session = p.session;
    send(body);
  }
  function offer(p, iceRestart) {
    if (p.pc.signalingState !== "stable") { p.needRestart = p.needRestart || iceRestart; return; }
    p.pc.createOffer(iceRestart ? { iceRestart: true } : {}).then(function (o) {
      return p.pc.setLocalDescription(o);
    }).then(function () {
      signal(p, { description: { type: "offer", sdp: p.pc.localDescription.sdp } });
    }).catch(function (err) { console.warn("offer failed", err); });
  }
  function flush(p) {
    var queued = p.pending; p.pending = [];
    queued.forEach(function (c) { p.pc.addIceCandidate(c).catch(function () {}); });
  }

  function onSignal(f) {
    if (over) return;
    if (!held) { if (want) early.push(f); return; }
    var p = peers[f.from];
    if (f.description && f.description.type === "offer") {
      if (p && p.offerer) return; // we offer to this leg: never happens in order; ignore
      if (p && p.session && p.session !== f.session) { closePeer(p); p = null; } // a new page
      if (!p) p = makePeer(f.from, f.epoch);
      p.session = f.session;
      p.pc.setRemoteDescription(f.description).then(function () {
        flush(p);
        return p.pc.createAnswer();
      }).then(function (a) { return p.pc.setLocalDescription(a); }).then(function () {
        signal(p, { description: { type: "answer", sdp: p.pc.localDescription.sdp } });
      }).catch(function (err) { console.warn("answer failed", err); });
      return;
    }
    if (!p || f.session !== p.session) return; // for a connection that no longer exists
    if (f.description && f.description.type === "answer") {
      if (p.pc.signalingState !== "have-local-offer") return;
      p.pc.setRemoteDescription(f.description).then(function () {
        flush(p);
        if (p.needRestart) { p.needRestart = false; offer(p, true); }
      }).catch(function (err) { console.warn("remote answer refused", err); });
    } else if (f.candidate) {
      if (p.pc.remoteDescription) p.pc.addIceCandidate(f.candidate).catch(function () {});
      else p.pending.push(f.candidate);
    } else if (f.restart && p.offerer) {
      restart(p);
    }
  }

  // --- keeping the connection: ICE restart -------------------------------------------------------
  function trouble(p) { if (!p.troubleSince) p.troubleSince = Date.now(); }
  function restart(p) {
    if (over || !peers[p.id]) return;
    if (p.offerer) offer(p, true);
    else signal(p, { restart: true });
  }
  function watch(p) {
    var ice = p.pc.iceConnectionState;
    if (ice === "connected" || ice === "completed") {
      p.troubleSince = 0; p.connected = true; clearTimeout(p.restartTimer);
    } else if (ice === "disconnected") {
      trouble(p);
      clearTimeout(p.restartTimer);
      p.restartTimer = setTimeout(function () {
        if (p.pc.iceConnectionState === "disconnected") restart(p);
      }, DISCONNECT_GRACE);
    } else if (ice === "failed") {
      trouble(p); restart(p);
    }
    render();
  }
  function networkChanged() { if (held && !over) forEachPeer(function (p) { trouble(p); restart(p); }); }
  window.addEventListener("online", networkChanged);
  if (navigator.connection && navigator.connection.addEventListener) navigator.connection.addEventListener("change", networkChanged);

  function checkFailures() {
    if (!held || over) return;
    var now = Date.now(), list = Object.keys(peers).map(function (k) { return peers[k]; });
    var failing = list.filter(function (p) { return p.troubleSince && now - p.troubleSince > FAIL_AFTER; });
    if (!failing.length) return;
    if (KIND === "direct" || failing.length === list.length) {
      send({ type: "call.fail", call: CALL, reason: "ice", ref: ref() });
      over = true; teardown();
      showStatus(gettext("The call could not be kept up: network problem."), "bad");
      return;
    }
    failing.forEach(function (p) { if (now - (p.lastRetry || 0) > 5000) { p.lastRetry = now; restart(p); } });
  }

  // --- who is speaking: levels from getStats (audio energy), every half second ----------------
  function energyLevel(prev, r) {
    if (r.totalAudioEnergy !== undefined && prev && prev.totalSamplesDuration !== undefined) {
      var dE = r.totalAudioEnergy - prev.totalAudioEnergy, dT = r.totalSamplesDuration - prev.totalSamplesDuration;
      if (dT > 0) return Math.sqrt(Math.max(0, dE) / dT);
    }
    return r.audioLevel || 0;
  }
  function sample() {
    forEachPeer(function (p) {
      p.pc.getStats().then(function (report) {
        report.forEach(function (r) {
          if (r.kind !== "audio" && r.mediaType !== "audio") return;
          if (r.type === "inbound-rtp") {
            levels[p.id] = energyLevel(p.stats.inbound, r);
            p.stats.inbound = { totalAudioEnergy: r.totalAudioEnergy, totalSamplesDuration: r.totalSamplesDuration };
            p.stats.bytesReceived = r.bytesReceived || 0;
          } else if (r.type === "outbound-rtp") {
            p.stats.bytesSent = r.bytesSent || 0;
          } else if (r.type === "media-source") {
            levels.me = muted ? 0 : energyLevel(p.stats.source, r);
            p.stats.source = { totalAudioEnergy: r.totalAudioEnergy, totalSamplesDuration: r.totalSamplesDuration };
          }
        });
        paintLevels();
      }).catch(function () {});
    });
  }
  function paintLevels() {
    if (!els.people) return;
    els.people.querySelectorAll("[data-leg]").forEach(function (li) {
      var id = parseInt(li.dataset.leg, 10);
      var leg = state.legs.filter(function (l) { return l.id === id; })[0];
      var level = !leg || leg.muted ? 0 : id === myLeg ? (levels.me || 0) : (levels[id] || 0);
      var speaking = level > SPEAKING;
      li.classList.toggle("speaking", !!speaking);
      li.dataset.speaking = speaking ? "1" : "0";
      var bar = li.querySelector(".call-level i");
      if (bar) bar.style.width = Math.min(100, Math.round(level * 200)) + "%";
      var talk = li.querySelector(".pstate.talk");
      if (talk) talk.hidden = !speaking;
    });
  }

  // --- the page ----------------------------------------------------------------------------------
  function showStatus(text, tone) {
    els.status.textContent = text;
    els.status.className = "call-status" + (tone ? " " + tone : "");
  }
  function anyConnected() {
    return Object.keys(peers).some(function (k) { return peers[k].connected && !peers[k].troubleSince; });
  }
  function anyTrouble() {
    return Object.keys(peers).some(function (k) { return peers[k].connected && peers[k].troubleSince; });
  }
  function outcomeText() {
    var caller = iAmCaller();
    switch (state.outcome) {
      case "completed": return KIND === "conference" ? gettext("The conference call has ended.")
        : interpolate(gettext("Call ended (%s)."), [dur(state.duration)]);
      case "busy": return caller ? gettext("Busy: they are in another call.") : gettext("Missed call: you were in another call.");
      case "declined": return caller ? gettext("The call was declined.") : gettext("You declined the call.");
      case "no_answer": return caller ? gettext("No answer.") : gettext("Missed call.");
      case "cancelled": return caller ? gettext("You cancelled the call.") : gettext("Missed call: the caller hung up.");
      case "failed": return state.answered_at ? gettext("The call was cut off by a network problem.")
        : gettext("The call could not be connected (network problem).");
      default: return gettext("The call has ended.");
    }
  }
  function render() {
    var s = state, me = held ? mine(s) : null;
    els.ringing.hidden = true; els.joinBar.hidden = true; els.controls.hidden = true; els.after.hidden = true;
    if (els.endAll) els.endAll.hidden = true;
    root.dataset.state = s.state;
    if (over || s.state === "ended") {
      root.dataset.state = "ended";
      root.dataset.outcome = s.outcome || "";
      showStatus(outcomeText(), s.outcome === "completed" ? "" : "bad");
      els.after.hidden = false;
      els.timer.textContent = "";
      renderPeople();
      return;
    }
    if (KIND === "direct") {
      var others = s.legs.filter(function (l) { return l.user !== ME; })[0];
      if (s.state === "ringing" && !iAmCaller() && !want) {
        showStatus(gettext("Incoming call"), "good");
        els.ringing.hidden = false;
      } else if (s.state === "ringing") {
        showStatus(iAmCaller() ? gettext("Calling…") : gettext("Answering…"));
        els.controls.hidden = !iAmCaller();
      } else if (!held) {
        showStatus(want ? gettext("Connecting…") : gettext("This call continues on another page or device."));
        if (!want) { els.joinBar.hidden = false; $("call-join").querySelector("span").textContent = gettext("Continue here"); }
      } else {
        els.controls.hidden = false;
        if (others && others.lost) showStatus(gettext("The other side's connection dropped. Waiting for it…"), "bad");
        else if (anyTrouble()) showStatus(gettext("Reconnecting…"), "bad");
        else if (anyConnected()) showStatus(gettext("In the call"), "good");
        else showStatus(gettext("Connecting…"));
      }
    } else {
      var n = s.legs.length;
      if (!held) {
        showStatus(n ? interpolate(ngettext("%s person is in the call.", "%s people are in the call.", n), [n])
          : gettext("Nobody is in the call yet."));
        els.joinBar.hidden = !!want;
      } else {
        els.controls.hidden = false;
        if (els.endAll) els.endAll.hidden = false;
        var text = interpolate(ngettext("%s person is in the call.", "%s people are in the call.", n), [n]);
        if (anyTrouble()) showStatus(gettext("Reconnecting…") + " " + text, "bad");
        else showStatus(text, anyConnected() || n === 1 ? "good" : "");
      }
      renderPeople();
    }
    root.dataset.connected = anyConnected() ? "1" : "0";
  }
  function renderPeople() {
    if (!els.people) return;
    els.people.innerHTML = "";
    if (state.state === "ended") return;
    state.legs.forEach(function (l) {
      var li = document.createElement("li");
      li.className = "call-person" + (l.id === myLeg ? " me" : "");
      li.dataset.leg = l.id;
      li.dataset.user = l.user;
      li.dataset.muted = l.muted ? "1" : "0";
      var name = document.createElement("span"); name.className = "pname";
      name.textContent = l.name + (l.id === myLeg ? " " + gettext("(you)") : "");
      li.appendChild(name);
      if (l.post) { var post = document.createElement("span"); post.className = "ppost"; post.textContent = l.post; li.appendChild(post); }
      var st = document.createElement("span");
      if (l.lost) { st.className = "pstate lost"; st.textContent = gettext("Reconnecting…"); }
      else if (l.muted && l.muted_by) { st.className = "pstate muted"; st.textContent = interpolate(gettext("Muted by %s"), [l.muted_by]); }
      else if (l.muted) { st.className = "pstate muted"; st.textContent = l.role === "observer" ? gettext("Listening") : gettext("Muted"); }
      if (st.textContent) li.appendChild(st);
      var talk = document.createElement("span"); talk.className = "pstate talk"; talk.textContent = gettext("Speaking"); talk.hidden = true;
      li.appendChild(talk);
      var level = document.createElement("span"); level.className = "call-level"; level.appendChild(document.createElement("i"));
      li.appendChild(level);
      if (MODERATOR && held && l.id !== myLeg && !l.muted) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "pmute"; b.textContent = gettext("Mute");
        b.setAttribute("aria-label", interpolate(gettext("Mute %s"), [l.name]));
        b.addEventListener("click", function () { send({ type: "call.mute", call: CALL, leg: l.id, ref: ref() }); });
        li.appendChild(b);
      }
      els.people.appendChild(li);
    });
    paintLevels();
  }
  function clock() {
    if (!over && state.state === "active" && state.answered_at && held) {
      els.timer.textContent = dur((Date.now() - Date.parse(state.answered_at)) / 1000);
    }
    checkFailures();
    sample();
  }

  function teardown() {
    forEachPeer(closePeer);
    if (local && (over || state.state === "ended")) { local.getTracks().forEach(function (t) { t.stop(); }); local = null; }
  }
  function finish() {
    over = true; held = false; want = null;
    teardown();
    if (local) { local.getTracks().forEach(function (t) { t.stop(); }); local = null; }
    render();
  }

  // --- frames -------------------------------------------------------------------------------------
  live.onFrame(function (f) {
    if (f.call !== CALL && f.type !== "error") return;
    switch (f.type) {
      case "call.joined": onJoined(f); break;
      case "call.state": applyState(f.state); break;
      case "call.signal": onSignal(f); break;
      case "call.mute_request":
        if (!muted) setMuted(true);
        showError(interpolate(gettext("%s muted your microphone. You can turn it on again."), [f.by]));
        break;
      case "call.moved":
        held = false; want = null; teardown(); render();
        break;
      case "error":
        if (typeof f.ref === "string" && f.ref.indexOf("call-") === 0) {
          taking = false;
          showError(f.message);
          if (!held) { want = null; render(); }
        }
        break;
    }
  });

  // --- buttons ------------------------------------------------------------------------------------
  $("call-answer").addEventListener("click", function () { start("answer"); });
  $("call-decline").addEventListener("click", function () {
    if (!send({ type: "call.decline", call: CALL, ref: ref() })) $("call-decline-form").submit();
  });
  $("call-join").addEventListener("click", function () { start("join"); });
  els.mute.addEventListener("click", function () { setMuted(!muted); });
  $("call-hangup").addEventListener("click", function () {
    send({ type: "call.hangup", call: CALL, ref: ref() });
    if (KIND === "direct") over = true; // over for both; the server's state says how
    held = false; want = null; teardown(); render();
  });
  if (els.endAll) els.endAll.addEventListener("click", function () { send({ type: "call.end", call: CALL, ref: ref() }); });
  els.hear.addEventListener("click", function () {
    els.hear.hidden = true;
    forEachPeer(function (p) { if (p.audio) p.audio.play().catch(function () {}); });
  });
  window.addEventListener("beforeunload", function (e) {
    if (held && !over) { e.preventDefault(); e.returnValue = ""; }
  });
  window.addEventListener("pagehide", function () {
    if (held && !over) send({ type: "call.hangup", call: CALL, ref: ref() });
  });

  // For diagnostics and the browser tests: what each connection carries.
  window.honbuCall = {
    leg: function () { return myLeg; },
    state: function () { return state; },
    levels: function () { return levels; },
    stats: function () {
      return Promise.all(Object.keys(peers).map(function (k) {
        var p = peers[k];
        return p.pc.getStats().then(function (report) {
          var out = { leg: p.id, connection: p.pc.connectionState, ice: p.pc.iceConnectionState, bytesReceived: 0, bytesSent: 0 };
          report.forEach(function (r) {
            if (r.type === "inbound-rtp" && (r.kind === "audio" || r.mediaType === "audio")) out.bytesReceived += r.bytesReceived || 0;
            if (r.type === "outbound-rtp" && (r.kind === "audio" || r.mediaType === "audio")) out.bytesSent += r.bytesSent || 0;
          });
          return out;
        });
      }));
    },
    restartIce: networkChanged
  };

  // --- start --------------------------------------------------------------------------------------
  setInterval(clock, 500);
  if (state.state !== "ended") {
    var me = state.legs.filter(function (l) { return l.user === ME; })[0];
    var elsewhere = me && me.bound && !me.lost; // another page or device holds it now
    if (KIND === "direct" && me && me.joined_at && !elsewhere) start("join"); // caller, or back
    else if (KIND === "direct" && me && !me.joined_at && MODE === "answer") start("answer");
    else if (KIND === "conference" && (MODE === "join" || (me && !elsewhere))) start("join");
  }
  render();
})();
