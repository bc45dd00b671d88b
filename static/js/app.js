// CloudSignal's only hand-written JS: copy buttons and dialogs. Everything else is htmx.
(function () {
  "use strict";

  // <button data-copy-from="#new-password"> copies the text (or value) of the element it names.
  document.addEventListener("click", async function (event) {
    const button = event.target.closest("[data-copy-from]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copyFrom);
    if (!source) return;
    const text = "value" in source && source.value !== undefined ? source.value : source.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      // Clipboard API unavailable (plain http on another host): select the text so Ctrl-C works.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    const label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
  });

  // <select data-autosubmit> submits its form when changed (no inline handlers: the CSP forbids them).
  document.addEventListener("change", function (event) {
    const select = event.target.closest("[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // Dialogs arrive as <dialog data-open> swapped into #dialogs; open them modally and
  // remove them from the page when closed, so no secret lingers in the DOM.
  function openDialogs(root) {
    // htmx:load fires on the swapped-in element itself, which may be the dialog.
    const dialogs = Array.from(root.querySelectorAll("dialog[data-open]"));
    if (root.matches && root.matches("dialog[data-open]")) dialogs.push(root);
    dialogs.forEach(function (dialog) {
      if (!dialog.open) dialog.showModal();
      dialog.addEventListener("close", function () { dialog.remove(); }, { once: true });
    });
  }
  document.addEventListener("htmx:load", function (event) { openDialogs(event.target); });
  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      // Removed at once, not on the (asynchronous) close event: a secret must not linger in the DOM.
      if (dialog) { event.preventDefault(); dialog.close(); dialog.remove(); }
    }
  });

  // A page leaving (or entering the back/forward cache) drops any copy-once secret it shows, so
  // going back or forward never brings a password back.
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("[data-secret]").forEach(function (secret) {
      const dialog = secret.closest("dialog");
      (dialog || secret).remove();
    });
  });
})();
