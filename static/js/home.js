// Home: the commander's open instructions keep their counts live. The page's socket gets
// receipt.counts for the person's own instructions (coalesced by the server); on every
// (re)connect the page asks for them again, since frames may have been missed.
(function () {
  "use strict";
  var card = document.getElementById("open-instructions");
  if (!card) return;
  function item(id) { return card.querySelector('li[data-message="' + id + '"]'); }
  function paint(c) {
    var li = item(c.message);
    if (!li) return;
    li.querySelector(".oi-read").textContent = c.read;
    li.querySelector(".oi-total").textContent = c.total;
    var acked = li.querySelector(".oi-acked");
    if (acked) acked.textContent = c.acked;
    var silent = c.total - (li.dataset.ack === "1" ? c.acked : c.read);
    li.querySelector(".oi-silent-n").textContent = silent;
    li.classList.toggle("done", silent === 0);
  }
  document.addEventListener("DOMContentLoaded", function () {  // after honbu.js: honbuLive
    window.honbuLive.onFrame(function (f) { if (f.type === "receipt.counts") f.counts.forEach(paint); });
    window.honbuLive.onOpen(function () {
      Array.prototype.forEach.call(card.querySelectorAll("li[data-message]"), function (li) {
        window.honbuLive.send({ type: "counts", message: parseInt(li.dataset.message, 10) });
      });
    });
  });
})();
