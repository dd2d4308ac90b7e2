// The disaster banner on every signed-in page: shown from the page's first HTML (the server
// knows the open incident) and kept live by incident.changed frames on the page's socket
// (honbu.js and chat-live.js pass every frame to window.honbuDisaster). Plain JS.
(function () {
  "use strict";
  var bar = document.getElementById("disaster-banner");
  function paint(inc) {
    if (!bar) return;
    if (!inc || !inc.open) { bar.hidden = true; bar.innerHTML = ""; return; }
    bar.hidden = false;
    bar.classList.toggle("drill", !!inc.drill);
    bar.innerHTML = "";
    var a = document.createElement("a");
    a.href = inc.url;
    var strong = document.createElement("strong");
    strong.textContent = (inc.drill ? gettext("[DRILL]") + " " : "") + gettext("Disaster mode") + " · " + inc.level;
    a.appendChild(strong);
    a.appendChild(document.createTextNode(" " + inc.title + " ›"));
    bar.appendChild(a);
  }
  window.honbuDisaster = function (f) {
    if (!f || f.type !== "incident.changed") return;
    paint(f.incident);
    if (f.incident.open && navigator.vibrate) navigator.vibrate([400, 200, 400]);
  };
})();
