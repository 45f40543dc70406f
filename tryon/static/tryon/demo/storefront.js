// The demo storefront listens to the widget's events, as a merchant's page would, and refreshes its
// figures from the URL its <script> tag names (templates/tryon/demo_base.html). On a product page it
// also shows what the reference backend's status call answers for the page's own key and token:
// the same question the widget asks when it opens, before the shopper picks a photo.
(() => {
  const $ = (id) => document.getElementById(id);
  const { statsUrl, statusUrl } = document.currentScript.dataset;
  const meter = (used, limit) => {
    $("shopper-meter").style.width = (limit ? Math.min(100, (100 * used) / limit) : 0) + "%";
  };
  meter(Number($("shopper-used").textContent), Number($("shopper-limit").textContent));
  const refresh = () => fetch(statsUrl, { cache: "no-store" }).then((r) => r.json()).then((s) => {
    if (!s.seeded) return;
    $("credits").textContent = s.credits;
    $("shopper-used").textContent = s.shopper.used;
    $("shopper-limit").textContent = s.shopper.limit;
    $("shopper-status").textContent = s.shopper.status.toLowerCase();
    meter(s.shopper.used, s.shopper.limit);
  });
  const status = () => {
    const loader = document.querySelector("script[data-api-key]");
    const box = $("status");
    if (!box) return;
    box.hidden = !loader;
    if (!loader) return;
    const body = new URLSearchParams({ api_key: loader.dataset.apiKey });
    if (loader.dataset.endCustomerToken) body.append("end_customer_token", loader.dataset.endCustomerToken);
    fetch(statusUrl, { method: "POST", body, cache: "no-store" })
      .then((r) => r.json())
      .then((s) => {
        const quota = s.quota ? ` · ${s.quota.used} of ${s.quota.limit} used` : "";
        box.dataset.access = s.access || "ERROR";
        $("status-access").textContent = s.access || (s.error ? `${s.error}` : "no answer");
        $("status-message").textContent = (s.message || "") + quota;
      })
      .catch(() => {
        box.dataset.access = "ERROR";
        $("status-access").textContent = "unreachable";
        $("status-message").textContent = "The status call did not answer; the widget still offers the try-on.";
      });
  };
  status();
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
      status();
      // The backend may answer from its 10-second cache (SPEC §15): ask once more after it.
      setTimeout(status, 10500);
    });
  }
})();
