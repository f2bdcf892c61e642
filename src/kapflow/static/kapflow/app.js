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
