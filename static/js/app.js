// CloudSignal's only hand-written JS: copying, dialogs, the phone menu, focus after errors, status
// messages. Everything else is htmx. No inline handlers anywhere: the pages use data- attributes.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

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
    // Copying the secret is what makes closing its dialog safe.
    if (button.hasAttribute("data-copies-secret")) acknowledge(button.closest("dialog"));
    const label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
  });

  // Every code block gets a Copy button.
  let codeBlocks = 0;
  function addCopyButtons(root) {
    root.querySelectorAll("pre:not([data-copyable])").forEach(function (pre) {
      pre.dataset.copyable = "";
      if (!pre.id) pre.id = "code-block-" + (++codeBlocks);
      const box = document.createElement("div");
      box.className = "code-block";
      pre.replaceWith(box);
      box.appendChild(pre);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code");
      button.dataset.copyFrom = "#" + pre.id;
      box.appendChild(button);
    });
  }

  // Dialogs arrive as <dialog data-open> swapped into #dialogs; open them modally and remove them
  // from the page when closed, so no secret lingers in the DOM. A dialog showing a secret
  // ([data-secret]) asks before it closes, unless the secret was copied or the admin confirmed.
  function guarded(dialog) {
    return dialog && dialog.querySelector("[data-secret]") && !dialog.dataset.acknowledged;
  }
  function acknowledge(dialog) { if (dialog) dialog.dataset.acknowledged = "true"; }
  function askBeforeClosing(dialog) {
    const question = dialog.querySelector("[data-close-question]");
    if (!question) return;
    question.hidden = false;
    question.querySelector("[data-keep-open]").focus();
  }
  function closeDialog(dialog) {
    if (guarded(dialog)) { askBeforeClosing(dialog); return; }
    // Removed at once, not on the (asynchronous) close event: a secret must not linger in the DOM.
    dialog.close();
    dialog.remove();
  }
  function openDialogs(root) {
    // htmx:load fires on the swapped-in element itself, which may be the dialog.
    const dialogs = Array.from(root.querySelectorAll("dialog[data-open]"));
    if (root.matches && root.matches("dialog[data-open]")) dialogs.push(root);
    dialogs.forEach(function (dialog) {
      if (dialog.dataset.wired) return;
      dialog.dataset.wired = "true";
      if (!dialog.open) dialog.showModal();
      // Esc: ask first when a secret is shown.
      dialog.addEventListener("cancel", function (event) {
        if (guarded(dialog)) { event.preventDefault(); askBeforeClosing(dialog); }
      });
      dialog.addEventListener("close", function () {
        // Chromium closes anyway on a second Esc without a click in between: open it again.
        if (guarded(dialog) && dialog.isConnected) { dialog.showModal(); askBeforeClosing(dialog); return; }
        dialog.remove();
      });
    });
  }

  // After a form comes back with errors, focus its first invalid field (or the error summary): the
  // field's error is tied to it with aria-describedby, so a screen reader says what is wrong.
  function focusFirstError(root) {
    const scope = root.matches && root.matches("dialog") ? root : (root.closest && root.closest("dialog")) || root;
    const target = scope.querySelector('[aria-invalid="true"]') || scope.querySelector(".error-summary, .error[role=alert]");
    if (!target) return;
    if (!target.matches("input, select, textarea, button")) target.setAttribute("tabindex", "-1");
    target.focus();
  }

  function setUp(root) {
    openDialogs(root);
    addCopyButtons(root);
    focusFirstError(root);
  }
  document.addEventListener("htmx:load", function (event) { setUp(event.target); });
  document.addEventListener("DOMContentLoaded", function () { setUp(document.body); });

  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) { event.preventDefault(); closeDialog(dialog); }
      return;
    }
    const anyway = event.target.closest("[data-close-anyway]");
    if (anyway) {
      const dialog = anyway.closest("dialog");
      acknowledge(dialog);
      if (dialog) { event.preventDefault(); closeDialog(dialog); }
      return;
    }
    const keep = event.target.closest("[data-keep-open]");
    if (keep) {
      const question = keep.closest("[data-close-question]");
      if (question) question.hidden = true;
      const copy = document.querySelector("[data-copies-secret]");
      if (copy) copy.focus();
      return;
    }
    const toggle = event.target.closest("[data-menu-toggle]");
    if (toggle) {
      const menu = document.getElementById(toggle.getAttribute("aria-controls"));
      const open = menu.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Close menu" : "Menu";
    }
  });

  // A change that needs no reading (workspaces.http.done): close its dialog, say what happened.
  document.addEventListener("changeDone", function (event) {
    const dialog = event.target.closest && event.target.closest("dialog");
    if (dialog) closeDialog(dialog);
    const region = document.getElementById("status");
    const message = event.detail && event.detail.message;
    if (region && message) {
      region.replaceChildren();
      const note = document.createElement("p");
      note.className = "notice";
      note.textContent = message;
      region.appendChild(note);
    }
  });

  // <select data-submit-on-change> submits its form when changed.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-submit-on-change]")) event.target.form.requestSubmit();
    if (event.target.matches("[data-select-all]")) {
      const table = event.target.closest("table");
      table.querySelectorAll("input[data-select-row]").forEach(function (box) { box.checked = event.target.checked; });
    }
  });

  // <input data-preview="#id">: the element named shows what is typed, in its data-template
  // ("{}@<organization>"), as the full username preview in Create Client.
  document.addEventListener("input", function (event) {
    const input = event.target;
    if (!input.dataset || !input.dataset.preview) return;
    const preview = document.querySelector(input.dataset.preview);
    if (preview) preview.textContent = preview.dataset.template.replace("{}", input.value.trim() || "username");
  });

  // A page leaving (or entering the back/forward cache) drops any copy-once secret it shows, so
  // going back or forward never brings a password back.
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("[data-secret]").forEach(function (secret) {
      const dialog = secret.closest("dialog");
      if (dialog) acknowledge(dialog);
      (dialog || secret).remove();
    });
  });
})();
