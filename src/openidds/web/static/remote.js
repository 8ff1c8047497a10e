/* OpenIDDS: the remote's wait, in hours and minutes ("3 h 59 min", "45 min"). Everything works without it.

   The server renders the wait, the doses left and whether the button may be pressed. This only keeps the words
   current: it counts down from when the page (or the htmx answer) arrived, so a wrong clock on the phone cannot
   shorten or lengthen the wait, and it wakes once a minute, when the minute shown changes, not every second.
   When the wait is over it asks the server again (the status block reloads itself on "countdown-done"): the
   button comes back only if the server says a press would be given now, and the press is decided again anyway. */
(function () {
  "use strict";
  var timer = null;

  function words(minutes) {
    var h = Math.floor(minutes / 60), m = minutes % 60;
    return h > 0 ? h + " h " + m + " min" : m + " min";
  }

  function tick() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    var now = Date.now(), next = Infinity;
    document.querySelectorAll("[data-wait-seconds]").forEach(function (el) {
      if (!el.dataset.waitUntil) {
        var seconds = parseInt(el.getAttribute("data-wait-seconds"), 10);
        if (isNaN(seconds)) return;
        el.dataset.waitUntil = String(now + seconds * 1000);
      }
      var left = parseInt(el.dataset.waitUntil, 10) - now;
      if (left <= 0) {
        el.removeAttribute("data-wait-seconds");
        if (window.htmx) {
          el.dispatchEvent(new CustomEvent("countdown-done", { bubbles: true }));
        } else {
          window.location.reload();
        }
        return;
      }
      var text = el.querySelector(".countdown-text");
      if (text) text.textContent = words(Math.ceil(left / 60000));
      next = Math.min(next, ((left - 1) % 60000) + 1); // until the minute shown changes
    });
    if (next !== Infinity) timer = setTimeout(tick, next + 50);
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) tick(); // a phone that slept: timers may have been held back
  });
})();
