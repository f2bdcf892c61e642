// kapflow's only script: progressive enhancements. Pages work without it.
document.addEventListener("DOMContentLoaded", () => {
  // Submit selects that ask for it (filters) without a button press.
  document.querySelectorAll("select[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.requestSubmit());
  });
});

// The ICD-10-CM picker: a result button adds a checked diagnosis to the chosen list.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-icd-code]");
  if (!button) return;
  const list = document.getElementById("chosen-diagnoses");
  const code = button.dataset.icdCode;
  if (!list || list.querySelector(`input[value="${CSS.escape(code)}"]`)) return;
  const item = document.createElement("li");
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.name = "diagnoses";
  box.value = code;
  box.checked = true;
  label.append(box, ` ${code} ${button.dataset.icdLabel}`);
  item.append(label);
  list.append(item);
});

// Refusals take focus. A refused request's reasons are rendered in a container marked
// data-refusal (role="alert"); after a full page load, or after an htmx swap caused by a
// form, the first one is scrolled into view and focused, so it is seen and announced even
// when it sits far above the button that was pressed. A poll never moves focus.
function focusRefusal() {
  const target = document.querySelector("[data-refusal]");
  if (!target) return;
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

document.addEventListener("DOMContentLoaded", focusRefusal);

document.addEventListener("htmx:afterSwap", (event) => {
  const config = event.detail.requestConfig;
  const elt = (config && config.elt) || event.detail.elt;
  if (elt && elt.closest && elt.closest("form")) focusRefusal();
});

// One submit at a time (decision 0038). A page form, once sent, ignores further submits
// (double clicks, a second Enter) and shows its buttons busy; they come back if the page is
// still here after a while (a download, a slow network) or is shown again from the
// back-forward cache. The server refuses a repeat of the form's one-time token anyway.
const RESUBMIT_AFTER_MS = 10000;

function submitButtons(form) {
  return form.querySelectorAll("button:not([type=button]):not([type=reset]), input[type=submit]");
}

function formReady(form) {
  delete form.dataset.sending;
  submitButtons(form).forEach((button) => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
}

function formSending(form) {
  form.dataset.sending = "1";
  submitButtons(form).forEach((button) => button.setAttribute("aria-busy", "true"));
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  if (form.dataset.sending) {
    event.preventDefault();
    return;
  }
  // htmx sends this one itself (it cancelled the page submit); see the htmx handlers below.
  if (event.defaultPrevented) return;
  formSending(form);
  // Disabled only after this event: a button disabled now would drop its name and value
  // from what the browser is about to send.
  setTimeout(() => submitButtons(form).forEach((button) => { button.disabled = true; }), 0);
  setTimeout(() => formReady(form), RESUBMIT_AFTER_MS);
});

window.addEventListener("pageshow", (event) => {
  if (event.persisted) document.querySelectorAll("form[data-sending]").forEach(formReady);
});

// htmx forms: the same as hx-disabled-elt on every form that htmx posts when it is submitted.
// While one such request is out its buttons are disabled and a second submit is dropped
// (htmx would queue it and send it after the first). Requests a form sends as it is typed in
// (the notes autosave) disable nothing.
function htmxForm(event) {
  const elt = event.detail.elt;
  const config = event.detail.requestConfig || {};
  const verb = (event.detail.verb || config.verb || "").toLowerCase();
  const trigger = event.detail.triggeringEvent || config.triggeringEvent;
  if (!(elt instanceof HTMLFormElement) || !verb || verb === "get") return null;
  return trigger && trigger.type === "submit" ? elt : null;
}

document.addEventListener("htmx:confirm", (event) => {
  const form = htmxForm(event);
  if (form && form.dataset.sending) event.preventDefault();
});

document.addEventListener("htmx:beforeRequest", (event) => {
  const form = htmxForm(event);
  if (!form) return;
  formSending(form);
  submitButtons(form).forEach((button) => { button.disabled = true; });
});

document.addEventListener("htmx:afterRequest", (event) => {
  // A form that stays on the page gets a fresh one-time token for its next submit.
  const elt = event.detail.elt;
  const token = event.detail.xhr && event.detail.xhr.getResponseHeader("Kapflow-Form-Token");
  const input = elt instanceof HTMLFormElement && elt.querySelector("input[name=kapflow_form_token]");
  if (token && input) input.value = token;
  const form = htmxForm(event);
  if (form) formReady(form);
});

// The main menu collapses behind its Menu button on narrow screens (layout.css, below 60rem).
// Without this script the button stays hidden and the menu stays open. Escape closes the
// menu and gives focus back to the button; the link to the page shown is marked current.
function setUpMenu() {
  const nav = document.querySelector("nav[data-menu]");
  if (!nav) return;
  const button = nav.querySelector(".menu-toggle");
  const menu = nav.querySelector("#main-menu");
  if (!button || !menu) return;
  button.hidden = false;
  nav.dataset.collapsible = "1";
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = menu.querySelector("a, button");
      if (first) first.focus();
    }
  });
  nav.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
  });
  const here = window.location.pathname;
  let best = null;
  menu.querySelectorAll("a[href]").forEach((link) => {
    const path = new URL(link.href, window.location.href).pathname;
    if (path !== "/" && here.startsWith(path) && (!best || path.length > best.path.length)) {
      best = { link, path };
    }
  });
  if (best) best.link.setAttribute("aria-current", "page");
}

// Data tables scroll inside their own region, never the page (WCAG 1.4.10): every table is
// put in a .table-wrap if it is not in one, and each wrap becomes a labelled region that
// takes keyboard focus, so it can be scrolled with the arrow keys.
function tableLabel(table) {
  const caption = table.querySelector("caption");
  if (caption && caption.textContent.trim()) return caption.textContent.trim();
  if (table.getAttribute("aria-label")) return table.getAttribute("aria-label");
  let node = table.closest(".table-wrap") || table;
  while (node && node !== document.body) {
    let sibling = node.previousElementSibling;
    while (sibling) {
      if (/^H[1-6]$/.test(sibling.tagName)) return sibling.textContent.trim();
      const inner = sibling.querySelector && sibling.querySelector("h1, h2, h3, h4, h5, h6");
      if (inner) return inner.textContent.trim();
      sibling = sibling.previousElementSibling;
    }
    node = node.parentElement;
  }
  return "Table";
}

function setUpTables(root) {
  (root || document).querySelectorAll("table").forEach((table) => {
    let wrap = table.parentElement;
    if (!wrap.classList.contains("table-wrap")) {
      wrap = document.createElement("div");
      wrap.className = "table-wrap";
      table.parentNode.insertBefore(wrap, table);
      wrap.append(table);
    }
    if (!wrap.hasAttribute("role")) wrap.setAttribute("role", "region");
    if (!wrap.hasAttribute("tabindex")) wrap.setAttribute("tabindex", "0");
    if (!wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
      wrap.setAttribute("aria-label", `${tableLabel(table)} (scrolls sideways)`);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpMenu();
  setUpTables(document);
});
document.addEventListener("htmx:afterSettle", () => setUpTables(document));
