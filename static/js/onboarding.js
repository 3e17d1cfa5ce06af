// The onboarding wizard: suggest the browser's time zone, which only the browser knows. (The
// focus after a swap is the server's: `autofocus` on the new step's heading, or on the first
// thing to fix.)
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
  // The list holds current zone names; a browser that reports a legacy one (Asia/Calcutta) is
  // matched through the aliases the server sends beside the field.
  function suggestTimezone(root) {
    const box = root.querySelector("[data-suggest-browser-timezone]");
    const select = box && box.querySelector("select");
    let zone = browserTimezone();
    if (!select || !zone || select.dataset.suggested) return;
    select.dataset.suggested = "true";
    zone = JSON.parse(box.dataset.timezoneAliases || "{}")[zone] || zone;
    const option = Array.from(select.options).find((candidate) => candidate.value === zone);
    if (option) {
      select.value = zone;
    }
  }

  // Every new content: the first page, each step htmx swaps in, and a step back or forward
  // brings back (the whole page is swapped then).
  htmx.onLoad(function () {
    const wizard = document.getElementById("wizard");
    if (wizard) suggestTimezone(wizard);
  });
})();
