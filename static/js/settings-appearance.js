// Applies a saved appearance at once. The server renders the theme into <html> on every page
// (data-theme="light|dark", absent for "system"; data-reduced-motion="reduce"), so this only
// has to follow a save made with htmx: the response raises "appearance-changed" (HX-Trigger)
// with {theme, reducedMotion}. Both the layout and a section page may load this file, so it
// installs its listeners once.
(function () {
  "use strict";
  if (window.mentorlyAppearance) return;

  function apply(detail) {
    const root = document.documentElement;
    const theme = detail && detail.theme;
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else if (theme === "system") delete root.dataset.theme;
    else return;
    if (detail.reducedMotion) root.dataset.reducedMotion = "reduce";
    else delete root.dataset.reducedMotion;
    const colorScheme = document.querySelector('meta[name="color-scheme"]');
    if (colorScheme) colorScheme.content = theme === "system" ? "light dark" : theme;
  }

  window.mentorlyAppearance = { apply: apply };
  document.addEventListener("appearance-changed", function (event) {
    apply(event.detail);
  });
  // Tells the server this page applies "appearance-changed" itself (else it asks for a reload).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-Appearance-Live"] = "1";
  });
})();
