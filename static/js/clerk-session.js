// Glue between server-rendered pages and ClerkJS: mount the sign-in form, or renew an expired
// session token and reload. ClerkJS itself keeps the token fresh while a signed-in page is open.
(function () {
  "use strict";

  async function loadClerk() {
    if (!window.Clerk) throw new Error("ClerkJS did not load");
    await window.Clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor } });
    return window.Clerk;
  }

  async function signIn(el) {
    const clerk = await loadClerk();
    const returnTo = el.dataset.returnTo || "/dashboard";
    if (clerk.user) {
      window.location.assign(returnTo);
      return;
    }
    el.querySelector("[data-clerk-loading]")?.remove();
    clerk.mountSignIn(el, { forceRedirectUrl: returnTo, fallbackRedirectUrl: returnTo });
  }

  async function refresh(el) {
    try {
      const clerk = await loadClerk();
      if (clerk.session) {
        await clerk.session.getToken({ skipCache: true });
        window.location.reload();
        return;
      }
    } catch (err) {
      console.error(err);
    }
    window.location.assign(el.dataset.signInUrl || "/sign-in");
  }

  function start() {
    const el = document.querySelector("[data-clerk-action]");
    if (!el) {
      if (document.body.dataset.signedIn === "true") loadClerk().catch(console.error);
      return;
    }
    if (el.dataset.clerkAction === "sign-in") signIn(el).catch(console.error);
    if (el.dataset.clerkAction === "refresh") refresh(el);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
