// The dosing-session screen (kapflow.encounters): refusals are swapped in, and a form the
// clinician just sent successfully is cleared for the next entry. CSP: no inline scripts.
function sessionForm(event) {
  // The element that sent the request (beforeSwap's `elt` is the swap target).
  const config = event.detail.requestConfig;
  const elt = (config && config.elt) || event.detail.elt;
  return elt && elt.matches && elt.matches("form[data-session-form]") ? elt : null;
}

document.addEventListener("htmx:beforeSwap", (event) => {
  const form = sessionForm(event);
  if (!form) return;
  // 409 (a rule refused, or the session changed) and 422 (input) carry the fresh live
  // region with every reason at its top: show it.
  if (event.detail.xhr.status === 409 || event.detail.xhr.status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

document.addEventListener("htmx:afterRequest", (event) => {
  const form = sessionForm(event);
  if (!form) return;
  const status = event.detail.xhr.status;
  const live = document.getElementById("session-live");
  // The user has now seen the state the answer shows: their next edit is made against it.
  if (live && (status < 300 || status === 409)) {
    document.querySelectorAll("form[data-session-form] input[name=version]").forEach((input) => {
      input.value = live.dataset.version;
    });
  }
  if (status < 300 && form.hasAttribute("data-reset")) {
    form.reset();
    // An amount filled in from the prescription is for the first dose only (decision 0030).
    form.querySelectorAll("[data-prefilled]").forEach((input) => {
      input.value = "";
    });
    const first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }
});

// Discharge: the clinician who has checked all three criteria ticks them in one press (as the
// evaluation's "No to every item"); each box stays visible and can be unticked before the
// session is closed. Without this script the button stays hidden.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-discharge-all]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      button.form.querySelectorAll("input[type=checkbox]").forEach((box) => {
        box.checked = true;
      });
    });
  });
});
