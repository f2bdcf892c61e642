// An optional drawn signature on the consent page. Without this script the pad stays hidden
// and the typed name alone signs. Draws with a pointer (mouse, pen or finger) on a canvas
// and keeps a PNG data URL in the form's hidden drawn_signature input.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-signature-pad]").forEach((pad) => {
    const form = pad.closest("form");
    const canvas = pad.querySelector("canvas[data-signature-canvas]");
    const input = form && form.querySelector("input[name=drawn_signature]");
    if (!canvas || !input || !canvas.getContext) return;
    const context = canvas.getContext("2d");
    canvas.style.border = "1px solid currentColor";
    canvas.style.borderRadius = "4px";
    canvas.style.touchAction = "none";
    canvas.style.maxWidth = "100%";
    canvas.style.background = "#fff";
    context.lineWidth = 2;
    context.lineCap = "round";
    context.strokeStyle = "#111";
    let drawing = false;
    let drawn = false;
    if (input.value) {
      // The page came back with an error: show what was drawn, as it will be sent again.
      const image = new Image();
      image.addEventListener("load", () => context.drawImage(image, 0, 0));
      image.src = input.value;
      drawn = true;
    }

    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - box.left) * canvas.width) / box.width,
        y: ((event.clientY - box.top) * canvas.height) / box.height,
      };
    };
    canvas.addEventListener("pointerdown", (event) => {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      const { x, y } = point(event);
      context.beginPath();
      context.moveTo(x, y);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const { x, y } = point(event);
      context.lineTo(x, y);
      context.stroke();
      drawn = true;
    });
    const finish = () => {
      if (!drawing) return;
      drawing = false;
      if (drawn) input.value = canvas.toDataURL("image/png");
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    pad.querySelector("[data-signature-clear]")?.addEventListener("click", () => {
      context.clearRect(0, 0, canvas.width, canvas.height);
      input.value = "";
      drawn = false;
    });
    pad.hidden = false;
  });
});
