/* Stand-in for @clerk/ui, served by the local Clerk emulator (development and tests only).
   The emulator's ClerkJS renders no components of its own, so the UI constructor does nothing. */
(function () {
  "use strict";
  window.__internal_ClerkUICtor = function ClerkUI() {};
})();
