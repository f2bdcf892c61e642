// kapflow's only script: progressive enhancements. Pages work without it.
document.addEventListener("DOMContentLoaded", () => {
  // Submit selects that ask for it (filters) without a button press.
  document.querySelectorAll("select[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.requestSubmit());
  });
});
