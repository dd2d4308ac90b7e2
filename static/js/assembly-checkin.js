// An assembly place's list (safety/assembly_place.html): the coordinator's 到着 button records
// the arrival without leaving the page (the list stays where the thumb is); the row shows the
// time at once and the live refresh (safety-round.js) brings the numbers. Without this script
// the same form posts and the page comes back at the row. Plain JS.
(function () {
  "use strict";
  var box = document.getElementById("round");
  if (!box) return;
  box.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("checkin-form")) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    if (button.disabled) return;
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    })
      .then(function (r) { return r.json().catch(function () { return { ok: false }; }); })
      .then(function (data) {
        var row = form.closest("li");
        if (data.ok) {
          var done = document.createElement("span");
          done.className = "asm-done";
          done.textContent = "✓";
          var badge = row.querySelector(".asm-state .badge");
          if (badge) { badge.className = "badge badge-ok"; badge.textContent = data.label; }
          row.className = row.className.replace(/status-\w+/, "status-arrived");
          form.replaceWith(done);
        } else {
          button.disabled = false;
          fail(row, data.error || box.dataset.offline);
        }
      })
      .catch(function () {
        button.disabled = false;
        fail(form.closest("li"), box.dataset.offline);
      });
  });
  function fail(row, text) {
    var note = row.querySelector(".asm-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "asm-error";
      note.setAttribute("role", "alert");
      row.querySelector(".asm-who").appendChild(note);
    }
    note.textContent = text;
  }
})();
