// The onboarding wizard: suggest the browser's time zone, and move focus to the new step's
// heading after a swap (app.js already focuses the first error of a 422 or 503 answer).
(function () {
  "use strict";

  function browserTimezone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (err) {
      return "";
    }
  }

  // Only while the person has not saved a time zone: the server marks the field then.
  function suggestTimezone(root) {
    const select = root.querySelector("[data-suggest-browser-timezone] select");
    const zone = browserTimezone();
    if (!select || !zone || select.dataset.suggested) return;
    select.dataset.suggested = "true";
    const option = Array.from(select.options).find((candidate) => candidate.value === zone);
    if (option) {
      select.value = zone;
    }
  }

  function onWizard(event) {
    return event.detail && event.detail.target && event.detail.target.id === "wizard";
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!onWizard(event)) return;
    suggestTimezone(event.detail.target);
    if (event.detail.xhr && event.detail.xhr.status !== 200) return;
    // A new step replaced the old one: a screen reader should start reading from its heading.
    const heading = event.detail.target.querySelector("#step-heading");
    if (heading) heading.focus();
  });

  function start() {
    const wizard = document.getElementById("wizard");
    if (wizard) suggestTimezone(wizard);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
