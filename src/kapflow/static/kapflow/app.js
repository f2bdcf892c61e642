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
