// The onboarding wizard: suggest the browser's time zone, keep focus on the new step after a
// swap, and let htmx show a step answered with 422 (invalid input) or 503 (Clerk unavailable),
// both of which carry the form again with its messages.
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

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!onWizard(event)) return;
    const status = event.detail.xhr.status;
    if (status === 422 || status === 503) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!onWizard(event)) return;
    suggestTimezone(event.detail.target);
    // A new step replaced the old one: move focus to its heading (or to the first error).
    const invalid = event.detail.target.querySelector("[aria-invalid=true]");
    const heading = event.detail.target.querySelector("#step-heading");
    (invalid || heading)?.focus({ preventScroll: false });
  });

  function start() {
    const wizard = document.getElementById("wizard");
    if (wizard) suggestTimezone(wizard);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
