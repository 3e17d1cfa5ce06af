/* Mentorly's page behaviour on top of htmx: only what the browser alone can do. Everything
   else is htmx's or the server's: htmx's settings (<meta name="htmx-config">), the CSRF header
   (hx-headers on <body>), the busy label (htmx's `htmx-request` class, app.css), the current
   section's mark (sent out of band with each section) and the focus on the first error
   (`autofocus`, rendered by the server). Everything here is an enhancement: every form and link
   also works as a plain request without JavaScript. */
(function () {
  "use strict";

  var TOAST_MILLISECONDS = 3000;

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
    // The server already said what went wrong in its own toast (HX-Trigger): one is enough.
    if (/"toast"/.test(event.detail.xhr.getResponseHeader("HX-Trigger") || "")) return;
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

  /* --- Controls that save as they change ---------------------------------------------------- */
  // A switch or a list that saves on change (hx-swap="none") shows what is stored. The value
  // the page was rendered with is its default (`defaultChecked`, `defaultSelected`): a save that
  // succeeds makes the value it sent the default; one that fails puts the default back.

  function savesOnChange(element) {
    return element.matches && element.matches('[hx-trigger="change"][hx-swap="none"]');
  }

  function currentValue(control) {
    return control.type === "checkbox" ? control.checked : control.value;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (savesOnChange(event.detail.elt)) {
      event.detail.xhr.sentValue = currentValue(event.detail.elt);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var control = event.detail.elt;
    if (!savesOnChange(control)) {
      return;
    }
    var xhr = event.detail.xhr;
    var saved = xhr.status >= 200 && xhr.status < 300;
    if (control.type === "checkbox") {
      if (saved) control.defaultChecked = xhr.sentValue;
      else control.checked = control.defaultChecked;
    } else if (control.options) {
      Array.prototype.forEach.call(control.options, function (option) {
        if (saved) option.defaultSelected = option.value === xhr.sentValue;
        else option.selected = option.defaultSelected;
      });
    }
  });

  /* --- Answers that come after the person moved on ------------------------------------------ */
  // An answer belongs to the page it was asked from. Once the person has gone elsewhere (a
  // section link, back or forward), a late answer (a slow save, say) is not swapped in: it
  // would replace the section now shown and push its own address. What it did on the server
  // stands. (Htmx updates the history before it swaps, so requests the new content makes
  // belong to it.)

  var moves = 0;

  function movedOn() {
    moves += 1;
  }

  document.addEventListener("htmx:pushedIntoHistory", movedOn);
  window.addEventListener("popstate", movedOn);

  document.addEventListener("htmx:beforeRequest", function (event) {
    event.detail.xhr.askedAtMove = moves;
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.askedAtMove !== moves) {
      event.detail.shouldSwap = false;
    }
  });

  /* --- Back and forward ------------------------------------------------------------------- */
  // With no history cache, every back or forward asks the server for the page. Steps can come
  // faster than answers, and answers out of order, so the page is fetched here rather than by
  // htmx: only the latest step's answer is ever shown, and only while the address is still the
  // one it was asked for. A section still on its way is dropped (its answer would push its own
  // address over the step). An answer that cannot be had is left to the browser: a reload.

  var restoring = null;

  function currentPath() {
    return location.pathname + location.search;
  }

  function restorePage(path) {
    if (restoring) {
      restoring.abort();
    }
    var request = (restoring = new AbortController());
    var sectionLinks = document.getElementById("section-links");
    if (sectionLinks) {
      htmx.trigger(sectionLinks, "htmx:abort");  // the element a section request syncs on
    }
    fetch(path, {
      headers: { "HX-Request": "true", "HX-History-Restore-Request": "true", "HX-Current-URL": location.href },
      credentials: "same-origin",
      signal: request.signal,
    }).then(function (response) {
      if (!response.ok || response.redirected) {
        throw new Error("not the page");
      }
      return response.text();
    }).then(function (html) {
      if (request !== restoring || currentPath() !== path) {
        return;  // a later step has overtaken this one
      }
      restoring = null;
      htmx.swap(document.body, html, { swapStyle: "innerHTML", swapDelay: 0, settleDelay: 0 });
      htmx.trigger(document.body, "htmx:historyRestore", { path: path, cacheMiss: true });
    }).catch(function () {
      if (request === restoring && currentPath() === path) {
        location.reload();
      }
    });
  }

  document.addEventListener("htmx:historyCacheMiss", function (event) {
    event.preventDefault();  // htmx's own request would show every answer, however late
    restorePage(event.detail.path);
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

  /* --- The settings navigation on a phone --------------------------------------------------- */
  // On a narrow screen the sections are a strip that scrolls sideways (app.css). The current
  // section's tab is scrolled into the strip's view, and `data-more` says on which side there is
  // more to scroll to, so the CSS fades that edge.

  function markMore(nav) {
    var end = nav.scrollWidth - nav.clientWidth;
    var atStart = nav.scrollLeft <= 1;
    var atEnd = nav.scrollLeft >= end - 1;
    nav.dataset.more = end <= 1 ? "none" : atStart ? "end" : atEnd ? "start" : "both";
  }

  function revealCurrentSection() {
    var nav = document.querySelector(".settings-nav");
    if (!nav) {
      return;
    }
    var current = nav.querySelector('[aria-current="page"]');
    if (current && nav.scrollWidth > nav.clientWidth) {
      var strip = nav.getBoundingClientRect();
      var tab = current.getBoundingClientRect();
      if (tab.left < strip.left || tab.right > strip.right) {
        nav.scrollLeft += tab.left - strip.left - (strip.width - tab.width) / 2;
      }
    }
    markMore(nav);
  }

  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("settings-nav")) {
      markMore(event.target);
    }
  }, { capture: true, passive: true });

  window.addEventListener("resize", revealCurrentSection);

  /* --- Avatars ------------------------------------------------------------------------------ */
  // The initials lie under the image (templates/macros/avatar.html): a broken image is hidden so
  // they show. `error` does not bubble, so it is caught on its way down; an image that failed
  // before this script ran is found after each load or swap.

  function hideIfBroken(image) {
    if (image.complete && image.naturalWidth === 0) {
      image.hidden = true;
    }
  }

  document.addEventListener("error", function (event) {
    if (event.target.matches && event.target.matches(".avatar img")) {
      event.target.hidden = true;
    }
  }, true);

  // A chosen file shows in the circle (`data-preview` names it) before it is uploaded. Read as a
  // data: URL, which the Content-Security-Policy already allows for images. A file the browser
  // cannot draw is hidden like any broken image; the server still says why it is refused.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-preview]")) {
      return;
    }
    var circle = document.getElementById(input.dataset.preview);
    if (!circle) {
      return;
    }
    var preview = circle.querySelector("img.avatar-preview");
    if (preview) {
      preview.remove();
    }
    var file = input.files && input.files[0];
    if (!file || !/^image\//.test(file.type)) {
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      if (input.files[0] !== file) {
        return;  // another file was chosen meanwhile
      }
      var image = document.createElement("img");
      image.className = "avatar-preview";
      image.alt = "Preview of " + file.name;
      image.src = reader.result;
      circle.appendChild(image);
    };
    reader.readAsDataURL(file);
  });

  /* --- After each swap ---------------------------------------------------------------------- */

  htmx.onLoad(function (root) {
    if (!root.querySelectorAll) {
      return;
    }
    root.querySelectorAll("[data-max-characters]").forEach(updateCounter);
    root.querySelectorAll(".toast[data-autohide]").forEach(hideLater);
    root.querySelectorAll(".avatar img").forEach(hideIfBroken);
    revealCurrentSection();
  });
})();
