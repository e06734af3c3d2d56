// Refreshes the parts of a page that change (a running job, the queue) from a JSON address, with
// plain fetch. An element with data-live="URL" is polled every data-every milliseconds; inside it,
// data-field="a.b" takes the text of that value and data-width="a.b" a width of that fraction.
// Values only ever go in as text, never as markup. When the answer says finished, the page reloads
// once to show the final state.
(function () {
  "use strict";
  function pick(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value !== null && value !== undefined ? value[key] : undefined;
    }, data);
  }
  function follow(root) {
    var url = root.getAttribute("data-live");
    var every = Number(root.getAttribute("data-every")) || 2000;
    function later() { window.setTimeout(tick, every); }
    function apply(data) {
      root.querySelectorAll("[data-field]").forEach(function (element) {
        var value = pick(data, element.getAttribute("data-field"));
        if (value !== undefined && value !== null) { element.textContent = String(value); }
      });
      root.querySelectorAll("[data-width]").forEach(function (element) {
        var value = pick(data, element.getAttribute("data-width"));
        if (typeof value === "number") { element.style.width = (100 * value).toFixed(1) + "%"; }
      });
    }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return later(); }
          apply(data);
          toEnd();
          if (data.finished) { window.location.reload(); } else { later(); }
        })
        .catch(later);
    }
    later();
  }
  function toEnd() {
    document.querySelectorAll("pre.log").forEach(function (log) { log.scrollTop = log.scrollHeight; });
  }
  toEnd();  // a log tail is read from its newest line
  document.querySelectorAll("[data-live]").forEach(follow);
})();
