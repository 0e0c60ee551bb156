// The memory browser's only script: confirmations before deleting. Every form works
// without it; the server checks the typed confirmation again.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const form of document.querySelectorAll("form[data-confirm-text]")) {
    const input = form.querySelector("input[name=confirm]");
    const button = form.querySelector("button[type=submit]");
    const check = () => {
      const matches = input.value === form.dataset.confirmText;
      button.disabled = !matches;
      button.setAttribute("aria-disabled", String(!matches));
    };
    input.addEventListener("input", check);
    check();
  }
});
