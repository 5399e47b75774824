// The live view's refresh: every few seconds, loads this page again and
// swaps in its figures, until the reader presses "Pause updates".
// Written for this console; served under the live page's policy
// (script-src 'self'). Without it the page still shows its minute.
"use strict";
(function () {
  var EVERY_MS = 3000;
  var button = document.getElementById("live-pause");
  var paused = false;
  if (!button) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    paused = !paused;
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    button.textContent = paused ? "Resume updates" : "Pause updates";
  });
  function refresh() {
    if (paused) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.text() : null;
      })
      .then(function (text) {
        if (text === null) {
          return;
        }
        var next = new DOMParser()
          .parseFromString(text, "text/html")
          .getElementById("live-figures");
        var now = document.getElementById("live-figures");
        if (next && now) {
          now.replaceWith(document.adoptNode(next));
        }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, EVERY_MS);
})();
