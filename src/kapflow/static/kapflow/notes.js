// The note editor's autosave: show the server's refusal (409 stale, 422 invalid) in the
// status line instead of dropping it, as htmx does for error responses by default.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status === 409 || status === 422) && event.detail.elt.closest("[data-note-editor]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
