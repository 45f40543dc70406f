// The demo storefront listens to the widget's events, as a merchant's page would, and refreshes its
// figures from the URL its <script> tag names (templates/tryon/demo_base.html).
(() => {
  const $ = (id) => document.getElementById(id);
  const statsUrl = document.currentScript.dataset.statsUrl;
  const meter = (used, limit) => {
    $("shopper-meter").style.width = (limit ? Math.min(100, (100 * used) / limit) : 0) + "%";
  };
  meter(Number($("shopper-used").textContent), Number($("shopper-limit").textContent));
  const refresh = () => fetch(statsUrl, { cache: "no-store" }).then((r) => r.json()).then((s) => {
    if (!s.seeded) return;
    $("credits").textContent = s.credits;
    $("shopper-used").textContent = s.shopper.used;
    $("shopper-limit").textContent = s.shopper.limit;
    meter(s.shopper.used, s.shopper.limit);
  });
  const log = $("event-log");
  for (const name of ["genvoris:tryon-completed", "genvoris:quota"]) {
    document.addEventListener(name, (event) => {
      const { image, ...detail } = event.detail;
      if (log) {
        const item = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = name + " " + JSON.stringify(detail);
        item.append(code);
        log.prepend(item);
        log.closest("[hidden]")?.removeAttribute("hidden");
      }
      refresh();
    });
  }
})();
