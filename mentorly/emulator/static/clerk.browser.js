/* Stand-in for ClerkJS, served by the local Clerk emulator (development and tests only).

   It covers what a server-rendered app needs: load() finds the signed-in session through the
   emulator (a credentialed fetch), keeps the app's __session cookie fresh (a 60-second token,
   renewed every 50 seconds like ClerkJS), and the sign-in, sign-out, user-profile and
   user-verification entry points send the browser to the emulator's own pages. */
(function () {
  "use strict";

  var script = document.currentScript;
  var emulatorOrigin = script ? new URL(script.src).origin : "";
  var REFRESH_MS = 50 * 1000;
  var listeners = [];
  var refreshTimer = null;
  var cookieSuffix = null;

  function setCookie(name, value, maxAge) {
    var parts = [name + "=" + value, "path=/", "SameSite=Lax"];
    if (maxAge !== undefined) parts.push("max-age=" + maxAge);
    if (location.protocol === "https:") parts.push("Secure");
    document.cookie = parts.join("; ");
  }

  function eachName(base, fn) {
    fn(base);
    if (cookieSuffix) fn(base + "_" + cookieSuffix);
  }

  function writeSignedIn(jwt, uat) {
    eachName("__session", function (name) { setCookie(name, jwt); });
    eachName("__client_uat", function (name) { setCookie(name, String(uat), 365 * 24 * 3600); });
  }

  function writeSignedOut() {
    eachName("__session", function (name) { setCookie(name, "", 0); });
    eachName("__client_uat", function (name) { setCookie(name, "0", 365 * 24 * 3600); });
  }

  async function call(path, method) {
    var response = await fetch(emulatorOrigin + path, {
      method: method || "GET",
      credentials: "include",
      headers: { "Accept": "application/json" },
    });
    var body = null;
    try { body = await response.json(); } catch (ignored) { body = null; }
    if (!response.ok) {
      var error = new Error((body && body.errors && body.errors[0] && body.errors[0].long_message) ||
                            ("Clerk emulator answered " + response.status));
      error.status = response.status;
      error.errors = body && body.errors;
      throw error;
    }
    return body;
  }

  function toUser(raw) {
    if (!raw) return null;
    var emails = (raw.email_addresses || []).map(function (entry) {
      return { id: entry.id, emailAddress: entry.email_address,
               verification: { status: entry.verification && entry.verification.status } };
    });
    var primary = emails.filter(function (e) { return e.id === raw.primary_email_address_id; })[0] || null;
    return {
      id: raw.id,
      firstName: raw.first_name,
      lastName: raw.last_name,
      fullName: [raw.first_name, raw.last_name].filter(Boolean).join(" ") || null,
      username: raw.username,
      imageUrl: raw.image_url,
      hasImage: raw.has_image,
      primaryEmailAddressId: raw.primary_email_address_id,
      primaryEmailAddress: primary,
      emailAddresses: emails,
      externalAccounts: (raw.external_accounts || []).map(function (a) {
        return { id: a.id, provider: a.provider.replace(/^oauth_/, ""), emailAddress: a.email_address,
                 username: a.username };
      }),
      passwordEnabled: raw.password_enabled,
      twoFactorEnabled: raw.two_factor_enabled,
      publicMetadata: raw.public_metadata || {},
      unsafeMetadata: raw.unsafe_metadata || {},
      createdAt: new Date(raw.created_at),
      updatedAt: new Date(raw.updated_at),
      lastSignInAt: raw.last_sign_in_at ? new Date(raw.last_sign_in_at) : null,
      raw: raw,
    };
  }

  function toSession(raw, uat) {
    if (!raw) return null;
    return {
      id: raw.id,
      status: raw.status,
      currentTask: (raw.tasks && raw.tasks[0]) || null,
      lastActiveAt: new Date(raw.last_active_at),
      // Minutes since the first and second factor were verified (-1: never), as in `fva`.
      factorVerificationAge: raw.factor_verification_age || null,
      expireAt: new Date(raw.expire_at),
      user: toUser(raw.user),
      getToken: async function () {
        var body = await call("/v1/client/sessions/" + encodeURIComponent(raw.id) + "/tokens", "POST");
        writeSignedIn(body.jwt, uat);
        return body.jwt;
      },
      end: function () { return Clerk.signOut({ sessionId: raw.id }); },
    };
  }

  function emit() {
    var state = { user: Clerk.user, session: Clerk.session, client: Clerk.client };
    listeners.forEach(function (fn) { try { fn(state); } catch (error) { console.error(error); } });
  }

  function currentUrl() {
    return location.href;
  }

  function redirectTarget(props) {
    props = props || {};
    var explicit = props.forceRedirectUrl || props.signInForceRedirectUrl || props.redirectUrl ||
                   props.fallbackRedirectUrl || props.signInFallbackRedirectUrl;
    var fromQuery = new URLSearchParams(location.search).get("redirect_url");
    var target = explicit || fromQuery || currentUrl();
    try { return new URL(target, location.href).href; } catch (ignored) { return currentUrl(); }
  }

  function placeholder(el, text, href) {
    if (!el) return;
    el.textContent = "";
    var link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    link.className = "cl-emulator-link";
    el.appendChild(link);
  }

  var Clerk = {
    version: "emulator",
    isEmulator: true,
    loaded: false,
    emulatorUrl: emulatorOrigin,
    publishableKey: script ? script.getAttribute("data-clerk-publishable-key") : null,
    client: null,
    session: null,
    user: null,

    // As in ClerkJS: a pending session (a task left) has a session and a user, yet is not
    // signed in.
    get isSignedIn() {
      return !!this.session && this.session.status === "active";
    },

    load: async function (options) {
      this.options = options || {};
      var body = await call("/v1/client");
      cookieSuffix = body.cookie_suffix || null;
      var client = body.response;
      var raw = client && client.sessions.filter(function (s) {
        return s.id === client.last_active_session_id;
      })[0];
      this.client = client;
      this.session = toSession(raw, body.client_uat);
      this.user = this.session ? this.session.user : null;
      if (this.session) {
        await this.session.getToken();
        if (refreshTimer) clearInterval(refreshTimer);
        var session = this.session;
        refreshTimer = setInterval(function () {
          session.getToken().catch(function (error) { console.warn("Session refresh failed:", error); });
        }, REFRESH_MS);
      } else {
        writeSignedOut();
      }
      this.loaded = true;
      emit();
      return this;
    },

    addListener: function (fn) {
      listeners.push(fn);
      if (this.loaded) fn({ user: this.user, session: this.session, client: this.client });
      return function () { listeners = listeners.filter(function (other) { return other !== fn; }); };
    },

    buildSignInUrl: function (props) {
      return emulatorOrigin + "/sign-in?redirect_url=" + encodeURIComponent(redirectTarget(props));
    },
    buildSignUpUrl: function (props) { return this.buildSignInUrl(props); },
    buildUserProfileUrl: function () {
      return emulatorOrigin + "/user?redirect_url=" + encodeURIComponent(currentUrl());
    },

    mountSignIn: function (el, props) {
      var url = this.buildSignInUrl(props);
      placeholder(el, "Continue to sign-in", url);
      location.assign(url);
    },
    mountSignUp: function (el, props) { this.mountSignIn(el, props); },
    openSignIn: function (props) { location.assign(this.buildSignInUrl(props)); },
    openSignUp: function (props) { this.openSignIn(props); },
    redirectToSignIn: async function (props) { location.assign(this.buildSignInUrl(props)); },
    redirectToSignUp: async function (props) { location.assign(this.buildSignInUrl(props)); },

    openUserProfile: function () { location.assign(this.buildUserProfileUrl()); },

    // Clerk's "verify it's you" (the modal behind useReverification): here a page of the
    // emulator, which verifies the session's first factor again and comes back to this page
    // with a fresh session token. ClerkJS calls `afterVerification` in place; a page that
    // navigates away cannot, so the page comes back instead.
    __internal_openReverification: function () {
      location.assign(emulatorOrigin + "/verify?redirect_url=" + encodeURIComponent(currentUrl()));
    },
    __internal_closeReverification: function () {},
    mountUserProfile: function (el) { placeholder(el, "Manage your account", this.buildUserProfileUrl()); },
    redirectToUserProfile: async function () { location.assign(this.buildUserProfileUrl()); },
    mountUserButton: function (el) {
      if (!el || !this.user) return;
      el.textContent = "";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "cl-emulator-user-button";
      button.setAttribute("aria-label", "Open account settings");
      var img = document.createElement("img");
      img.src = this.user.imageUrl;
      img.alt = "";
      img.width = 32;
      img.height = 32;
      img.style.borderRadius = "50%";
      button.appendChild(img);
      button.addEventListener("click", this.openUserProfile.bind(this));
      el.appendChild(button);
    },
    unmountSignIn: function () {}, unmountSignUp: function () {}, unmountUserProfile: function () {},
    unmountUserButton: function () {},

    signOut: async function (callbackOrOptions, maybeOptions) {
      var options = typeof callbackOrOptions === "function" ? (maybeOptions || {}) : (callbackOrOptions || {});
      var callback = typeof callbackOrOptions === "function" ? callbackOrOptions : null;
      var sessionId = options.sessionId || (this.session && this.session.id);
      if (sessionId) {
        try {
          await call("/v1/client/sessions/" + encodeURIComponent(sessionId) + "/end", "POST");
        } catch (error) {
          console.warn("Ending the session at the emulator failed:", error);
        }
      }
      if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
      writeSignedOut();
      this.session = null;
      this.user = null;
      emit();
      if (callback) return callback();
      var target = options.redirectUrl || (this.options && this.options.afterSignOutUrl) || "/";
      location.assign(target);
    },
  };

  window.Clerk = Clerk;
})();
