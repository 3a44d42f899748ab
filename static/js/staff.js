// Small progressive enhancements for staff pages (no inline scripts: the CSP forbids them).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copyTarget);
  if (!source) return;
  source.select();
  navigator.clipboard?.writeText(source.value).then(() => { button.textContent = "Copied"; });
});
