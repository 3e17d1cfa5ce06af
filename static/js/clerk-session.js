// Glue between server-rendered pages and ClerkJS: mount the sign-in form, renew an expired
// session token and reload, and sign out through Clerk. ClerkJS itself keeps the token fresh
// while a signed-in page is open.
//
// "Signed in" is `Clerk.isSignedIn`, never `Clerk.session` or `Clerk.user`: a pending session
// (a task left, such as setting up two-factor) has both, is not signed in, and its task is
// shown by the sign-in form.
(function () {
  "use strict";

  async function loadClerk() {
    if (!window.Clerk) throw new Error("ClerkJS did not load");
    await window.Clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor } });
    return window.Clerk;
  }

  // This page is only shown to a browser the server does not count as signed in. If Clerk does
  // (a token that had expired), the browser goes back where it was going with a fresh token.
  // Back here again within moments, the server refused that session (ended here while Clerk
  // kept it, or a token for another origin): going back would only loop. Clerk's session is
  // ended instead, and the form offered.
  const SENT_BACK_AT = "mentorly.sign-in-sent-back-at";
  const LOOP_MILLISECONDS = 30000;

  // Whether this page sent the browser back moments ago (if not, it is noted as sent now).
  function sentBackRecently() {
    try {
      const sentAt = Number(window.sessionStorage.getItem(SENT_BACK_AT)) || 0;
      if (Date.now() - sentAt <= LOOP_MILLISECONDS) {
        window.sessionStorage.removeItem(SENT_BACK_AT);
        return true;
      }
      window.sessionStorage.setItem(SENT_BACK_AT, String(Date.now()));
    } catch (err) {
      // Storage blocked by the browser: always send back.
    }
    return false;
  }

  async function signIn(el) {
    const clerk = await loadClerk();
    const returnTo = el.dataset.returnTo || "/dashboard";
    if (clerk.isSignedIn) {
      if (!sentBackRecently()) {
        window.location.assign(returnTo);
        return;
      }
      await clerk.signOut(function () {});  // with a callback ClerkJS stays on this page
    }
    el.querySelector("[data-clerk-loading]")?.remove();
    clerk.mountSignIn(el, { forceRedirectUrl: returnTo, fallbackRedirectUrl: returnTo });
  }

  async function refresh(el) {
    try {
      const clerk = await loadClerk();
      if (clerk.isSignedIn) {
        await clerk.session.getToken({ skipCache: true });
        window.location.reload();
        return;
      }
    } catch (err) {
      console.error(err);
    }
    window.location.assign(el.dataset.signInUrl || "/sign-in");
  }

  // Sign-out ends the session with Clerk in the browser (which resets Clerk's own cookies),
  // then posts the form so the server ends it too and says goodbye. Without JavaScript, or if
  // ClerkJS cannot be reached, the form alone still ends the session at Clerk.
  function signOutThroughClerk(form) {
    form.addEventListener("submit", async function (event) {
      if (form.dataset.clerkSignedOut === "true") return;
      event.preventDefault();
      form.querySelector("button[type=submit]")?.setAttribute("disabled", "");
      form.dataset.clerkSignedOut = "true";
      try {
        // With a callback, ClerkJS calls it instead of navigating away by itself.
        await (await loadClerk()).signOut(function () { form.submit(); });
      } catch (err) {
        console.warn("Signing out through Clerk failed; the server ends the session:", err);
        form.submit();
      }
    });
  }

  function start() {
    document.querySelectorAll("form[data-clerk-sign-out]").forEach(signOutThroughClerk);
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
