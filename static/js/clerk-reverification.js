// "Confirm it's you" buttons ([data-clerk-reverify]): Clerk's user verification through ClerkJS
// (the step its useReverification hook opens), for actions that need a recent sign-in check.
// Once the person has verified, ClerkJS gets a new session token, whose `fva` claim is fresh,
// and the page reloads at `data-return-to`, ready to submit again.
//
// ClerkJS verifies in a modal and calls `afterVerification`; the local Clerk emulator verifies
// on a page of its own and comes back to the current URL, so that URL is set to the return
// address first and both end in the same place. The buttons are hidden until this script runs:
// without JavaScript they could do nothing (the page says so instead). Both the layout and a
// section page may load this file, so it installs its listeners once.
(function () {
  "use strict";
  if (window.mentorlyClerkReverification) return;
  window.mentorlyClerkReverification = true;

  function reveal(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-clerk-reverify]").forEach(function (button) {
      const wrapper = button.closest("[hidden]");
      if (wrapper) wrapper.hidden = false;
    });
  }

  function sayError(message) {
    document.dispatchEvent(new CustomEvent("toast", { detail: { message: message, level: "error" } }));
  }

  async function loadClerk() {
    const clerk = window.Clerk;
    if (!clerk) throw new Error("ClerkJS did not load");
    if (!clerk.loaded) await clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor } });
    return clerk;
  }

  function verify(clerk) {
    return new Promise(function (resolve, reject) {
      clerk.__internal_openReverification({
        level: "first_factor",
        afterVerification: function () { resolve(true); },
        afterVerificationCancelled: function () { resolve(false); },
      });
    });
  }

  async function confirmIdentity(button) {
    const returnTo = new URL(button.dataset.returnTo || window.location.href, window.location.href);
    const clerk = await loadClerk();
    if (!clerk.isSignedIn) {
      window.location.assign(returnTo.href); // the session has ended: the page asks to sign in
      return;
    }
    window.history.replaceState(window.history.state, "", returnTo.href);
    if (!(await verify(clerk))) return; // cancelled: nothing changes
    await clerk.session.getToken({ skipCache: true });
    window.location.reload();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-clerk-reverify]");
    if (!button || event.defaultPrevented) return;
    event.preventDefault();
    button.disabled = true;
    confirmIdentity(button)
      .catch(function (err) {
        console.error(err);
        sayError("Clerk's verification could not be opened. Reload the page and try again.");
      })
      .finally(function () { button.disabled = false; });
  });

  // Sections arrive as htmx fragments too: reveal their buttons as they are swapped in.
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  } else {
    reveal(document);
  }
})();
