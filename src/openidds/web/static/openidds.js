/* OpenIDDS: the only script of our own. Everything works without it; it only keeps the remote's lockout
   countdown current. The server renders the minutes left; this counts them down from when the page (or the
   htmx answer) arrived, so a wrong clock on the phone cannot shorten or lengthen the wait. */
(function () {
  "use strict";
  function start(el) {
    if (el.dataset.countdownStarted) return;
    var seconds = parseInt(el.getAttribute("data-countdown-seconds"), 10);
    if (isNaN(seconds)) return;
    el.dataset.countdownStarted = String(Date.now() + seconds * 1000);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-seconds]").forEach(function (el) {
      start(el);
      var until = parseInt(el.dataset.countdownStarted, 10);
      var text = el.querySelector(".countdown-text");
      var left = Math.ceil((until - now) / 60000);
      if (left <= 0) {
        el.removeAttribute("data-countdown-seconds");
        el.textContent = "You may request a dose now.";
      } else if (text) {
        text.textContent = left + " min";
      }
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 5000);
})();
