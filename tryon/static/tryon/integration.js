// The Integration page's live preview of the button design. Progressive enhancement only: the
// form saves without it. Sizes are set through the CSSOM (element.style), which the portal's
// Content-Security-Policy allows; it refuses only style attributes and <style> elements.
(() => {
  "use strict";
  const form = document.querySelector("[data-design-form]");
  const preview = document.querySelector("[data-design-preview]");
  if (!form || !preview) return;

  // As the widget draws them: a value out of range falls back to the default (widget.js, float()).
  const RANGES = { borderRadius: [0, 40, 8], fontSize: [10, 24, 14], paddingX: [4, 60, 20], paddingY: [4, 40, 10] };
  const field = (name) => form.querySelector(`[name="${name}"]`);
  const number = (name) => {
    const [low, high, fallback] = RANGES[name];
    const input = field(name);
    const value = input && input.value.trim() !== "" ? Number(input.value) : NaN;
    return Number.isInteger(value) && value >= low && value <= high ? value : fallback;
  };
  const choice = (name, fallback) => {
    const input = form.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : fallback;
  };

  function render() {
    const label = (field("label").value.trim() || "Try On").slice(0, 20);
    const icon = choice("icon", "sparkles");
    preview.dataset.position = choice("position", "inline");
    preview.dataset.cards = field("showOnCards").checked ? "on" : "off";
    for (const button of preview.querySelectorAll("[data-preview-button]")) {
      button.style.borderRadius = `${number("borderRadius")}px`;
      button.style.fontSize = `${number("fontSize")}px`;
      button.style.padding = `${number("paddingY")}px ${number("paddingX")}px`;
      button.querySelector("[data-preview-label]").textContent = label;
      // SVG elements have no `hidden` property: the attribute, and the stylesheet hides it.
      for (const svg of button.querySelectorAll("svg[data-icon]")) svg.toggleAttribute("hidden", svg.dataset.icon !== icon);
    }
  }

  form.addEventListener("input", render);
  form.addEventListener("change", render);
  render();
})();
