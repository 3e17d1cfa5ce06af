/* Mentorly's page behaviour on top of htmx. Loaded with `defer` after htmx, so the settings
   below are in place before htmx initialises (on DOMContentLoaded). Everything here is an
   enhancement: every form and link also works as a plain request without JavaScript. */
(function () {
  "use strict";

  var config = htmx.config;
  // Swap 422 (a form with its errors at the fields) and 503 (a form saying Clerk could not be
  // reached) like a success; other errors are not swapped and show a toast instead.
  config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "503", swap: true },
    { code: "[45]..", swap: false, error: true },
    { code: "...", swap: false }
  ];
  // htmx's indicator <style> would be an inline style, which the Content-Security-Policy refuses.
  config.includeIndicatorStyles = false;
  // No page snapshots in sessionStorage (they would hold personal data and CSRF tokens): back
  // and forward ask the server, which answers a whole page to HX-History-Restore-Request.
  config.historyCacheSize = 0;

  var TOAST_MILLISECONDS = 3000;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : null;
  }

  // Every htmx request carries the CSRF token; forms also carry it as a hidden field.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRFToken"] = token;
    }
  });

  /* --- Toasts ------------------------------------------------------------------------------ */

  function hideLater(toast) {
    window.setTimeout(function () {
      toast.classList.add("toast-leaving");
      window.setTimeout(function () { toast.remove(); }, 250);
    }, TOAST_MILLISECONDS);
  }

  function showToast(message, level) {
    var region = document.getElementById("toasts");
    if (!region || !message) {
      return;
    }
    var toast = document.createElement("p");
    toast.className = "toast toast-" + (level || "success");
    toast.textContent = message;
    region.appendChild(toast);
    hideLater(toast);
  }

  // Raised by the server through `HX-Trigger: {"toast": {"message": ..., "level": ...}}`.
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message || detail.value, detail.level);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var message = "Something went wrong (HTTP " + status + "). Please try again.";
    if (status === 400) {
      message = "The request was refused. Reload the page and try again.";
    } else if (status === 413) {
      message = "That file is too large.";
    } else if (status === 429) {
      message = "Too many requests. Please wait a moment.";
    }
    showToast(message, "error");
  });

  // A 503 that is a whole page (the sign-in check could not reach Clerk) is not a form to swap
  // into a section: say so in a toast instead.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 503 && /^\s*<!doctype html/i.test(xhr.responseText || "")) {
      event.detail.shouldSwap = false;
      showToast("Mentorly cannot reach its sign-in service right now. Please try again in a moment.", "error");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("Mentorly could not be reached. Check your connection and try again.", "error");
  });

  /* --- Busy buttons -------------------------------------------------------------------------- */
  // htmx disables the button (hx-disabled-elt); this swaps in its busy label ("Saving…").

  function busyButtons(event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form") : null;
    return form ? form.querySelectorAll("button[data-busy-label]") : [];
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    busyButtons(event).forEach(function (button) {
      button.dataset.idleLabel = button.textContent;
      button.textContent = button.dataset.busyLabel;
      button.setAttribute("aria-busy", "true");
    });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    busyButtons(event).forEach(function (button) {
      if (button.dataset.idleLabel !== undefined) {
        button.textContent = button.dataset.idleLabel;
        delete button.dataset.idleLabel;
      }
      button.removeAttribute("aria-busy");
    });
  });

  /* --- Character counters ---------------------------------------------------------------- */
  // Counts what a person sees: grapheme clusters (an emoji, a flag, é written as e + accent:
  // one each), after the same line-break normalisation and trimming as the server.

  var segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

  function visibleLength(text) {
    text = text.replace(/\r\n?/g, "\n").trim();
    if (!segmenter) {
      return Array.from(text).length;
    }
    var count = 0;
    for (var iterator = segmenter.segment(text)[Symbol.iterator](), step = iterator.next(); !step.done; step = iterator.next()) {
      count += 1;
    }
    return count;
  }

  function updateCounter(field) {
    var counter = document.getElementById(field.id + "-counter");
    var limit = Number(field.dataset.maxCharacters);
    if (!counter || !limit) {
      return;
    }
    var count = visibleLength(field.value);
    counter.textContent = count + " / " + limit;
    counter.classList.toggle("over", count > limit);
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-max-characters]")) {
      updateCounter(event.target);
    }
  });

  /* --- After each swap ---------------------------------------------------------------------- */

  function markCurrentSection() {
    document.querySelectorAll(".settings-nav a").forEach(function (link) {
      if (link.pathname === window.location.pathname) {
        link.setAttribute("aria-current", "page");
      } else {
        link.removeAttribute("aria-current");
      }
    });
  }

  htmx.onLoad(function (root) {
    if (!root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-max-characters]").forEach(updateCounter);
    root.querySelectorAll(".toast[data-autohide]").forEach(hideLater);
  });

  document.addEventListener("htmx:pushedIntoHistory", markCurrentSection);
  document.addEventListener("htmx:historyRestore", markCurrentSection);

  // A form that came back with errors: take the person to the first field to fix.
  document.addEventListener("htmx:afterSwap", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 200;
    if (status === 422 || status === 503) {
      var target = event.detail.target;
      var first = target.querySelector('[aria-invalid="true"], .form-alert');
      if (first) {
        if (first.classList.contains("form-alert")) {
          first.setAttribute("tabindex", "-1");
        }
        first.focus();
      }
    }
  });
})();
