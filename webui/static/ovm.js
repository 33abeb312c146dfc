// OVM console: copy buttons, and the wait for stock. Plain JavaScript.
"use strict";
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  var field = document.getElementById(b.dataset.copy);
  var status = document.getElementById(b.dataset.copy + "-status");
  field.select();
  var done = function () { status.textContent = "Copied."; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, function () { status.textContent = "Select the text and copy it."; });
  } else {
    status.textContent = "Select the text and copy it.";
  }
});
(function () {
  var status = document.getElementById("wait-status"), form = document.getElementById("wait-form");
  if (!status || !form) return;
  var ask = function () {
    fetch(status.dataset.poll, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok && !(r.headers.get("Content-Type") || "").startsWith("application/json")) { throw new Error("stop"); }
        return r.json();
      })
      .then(function (d) {
        if (d.location) { window.location.assign(d.location); return; }
        if (d.error) { status.textContent = d.error; return; }
        status.textContent = d.waiting;
        if (d.ready !== undefined) {
          document.getElementById("wait-ready").textContent = d.ready;
          document.getElementById("wait-inflight").textContent = d.in_flight;
          document.getElementById("wait-progress").value = d.ready;
        }
        setTimeout(ask, 2000);
      }, function () { status.textContent = "OVM did not answer: reload the page to try again."; });
  };
  setTimeout(ask, 2000);
})();
// A live region (data-refresh seconds) is read again while the page is shown.
(function () {
  var live = document.getElementById("live");
  if (!live) return;
  setInterval(function () {
    if (document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("stop"); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.innerHTML = fresh.innerHTML;
      }, function () {});
  }, 1000 * (+live.dataset.refresh || 5));
})();
