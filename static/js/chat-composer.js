// Honbu chat page (3/4): the composer and the buttons on the cards. Text (Ctrl/⌘+Enter sends),
// the instruction controls (priority, 了解 requested, this instruction's own chase), a photo or
// PDF (sent over HTTP, not queued offline), reply, edit and delete; the 了解 button and the
// outbox's Discard. Plain JS; uses window.honbuChat (chat-render.js, chat-outbox.js, chat-live.js).
(function () {
  "use strict";
  var ns = window.honbuChat;
  if (!ns) return;
  var root = ns.root, showError = ns.showError;
  var replyTo = null, editing = null;
  function send(frame) { return ns.send(frame); } // chat-live.js (loaded after this file)

  // --- composer -----------------------------------------------------------------------------
  var form = document.getElementById("composer");
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
        clearText(); clearReply(); return;
      }
      var cid = ns.uuid4();
      var frame = { client_id: cid, body: text, kind: "message" };
      if (kindToggle && kindToggle.checked) {
        frame.kind = "instruction"; frame.priority = form.elements.priority.value;
        frame.requires_ack = form.elements.requires_ack.checked;
        var override = escalationOverride();
        if (override) frame.escalation = override;
      }
      if (replyTo) frame.reply_to = replyTo;
      if (file) { upload(frame, file); }
      else { ns.addToOutbox({ client_id: cid, body: text, frame: frame }); }
      // The text, the photo and this instruction's own chase go; the instruction mode, its
      // priority and 了解 stay, so a commander can send a series of instructions as set.
      clearText(); clearReply();
      if (escBox) { form.elements.esc_stop.value = ""; form.elements.esc_first.value = ""; escBox.open = false; showOverride(); }
      ns.toBottom();
    });
  }
  function clearText() {
    if (!form) return;
    form.elements.body.value = "";
    if (form.elements.file) form.elements.file.value = "";
    var label = document.getElementById("attach-name");
    if (label) { label.textContent = ""; label.hidden = true; }
  }
  function upload(frame, file) {
    var data = new FormData();
    // The same fields as the websocket frame (SendForm): the instruction's own chase as JSON.
    Object.keys(frame).forEach(function (k) {
      var v = frame[k];
      if (v === undefined || v === null || v === false) return;
      data.append(k, typeof v === "object" ? JSON.stringify(v) : v);
    });
    data.append("file", file);
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(root.dataset.sendUrl, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; }); })
      .then(function (j) { ns.accept(j.message); })
      .catch(function (e) { showError(gettext("The photo could not be sent.") + " " + e.message); });
  }
  function clearReply() { replyTo = null; editing = null; var b = document.getElementById("reply-banner"); if (b) b.hidden = true; }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("[data-ack]");
    if (a) {
      // Kept and sent again on reconnect until answered (chat-outbox.js).
      if (!a.disabled && !ns.addAck(parseInt(a.dataset.ack, 10))) showError(gettext("Not connected: your 了解 will be sent when the connection is back."));
      return;
    }
    var d = ev.target.closest("[data-discard]");
    if (d) { ns.removeFromOutbox(d.dataset.discard); return; }
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
      eb.hidden = false; form.elements.body.value = ns.texts[editing] || ""; form.elements.body.focus(); return;
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
})();
