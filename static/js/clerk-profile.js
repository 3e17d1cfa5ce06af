// "Manage in Clerk" links: open Clerk's profile UI in place (Clerk.openUserProfile) when ClerkJS
// is on the page; otherwise the link itself goes to Clerk's hosted account page. Both the layout
// and a section page may load this file, so it installs its listener once.
(function () {
  "use strict";
  if (window.mentorlyClerkProfile) return;
  window.mentorlyClerkProfile = true;

  async function openProfile() {
    const clerk = window.Clerk;
    if (!clerk.loaded) await clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor } });
    clerk.openUserProfile();
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest("[data-clerk-user-profile]");
    if (!link || !window.Clerk || event.defaultPrevented) return;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openProfile().catch(function (err) {
      console.error(err);
      window.location.assign(link.href);
    });
  });
})();
