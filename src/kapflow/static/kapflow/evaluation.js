// The evaluation's checklist: one button answers "No" to every item still unanswered, so a
// clean screen is one click; items already answered keep their answer, and nothing is saved
// until the prescriber saves. Without this script the button stays hidden.
document.addEventListener("DOMContentLoaded", () => {
  const checklist = document.querySelector("[data-testid=checklist]");
  if (!checklist) return;
  checklist.querySelectorAll("[data-checklist-no]").forEach((el) => { el.hidden = false; });
  const button = checklist.querySelector("button[data-checklist-no]");
  button.addEventListener("click", () => {
    checklist.querySelectorAll("select").forEach((select) => {
      if (select.value === "") {
        select.value = "no";
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });
});
