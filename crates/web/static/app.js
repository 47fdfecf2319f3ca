// Progressive enhancement only: every form works without this script.
(function () {
  "use strict";
  // Paste a screenshot or drop files onto a form with a file input.
  document.querySelectorAll("form.dropzone").forEach(function (form) {
    var input = form.querySelector('input[type="file"]');
    if (!input || typeof DataTransfer === "undefined") return;
    function add(files) {
      var dt = new DataTransfer();
      Array.prototype.forEach.call(input.files, function (f) { dt.items.add(f); });
      Array.prototype.forEach.call(files, function (f, i) {
        var name = f.name && f.name !== "image.png" ? f.name : "capture-" + new Date().toISOString().replace(/[:.]/g, "-") + "-" + i + ".png";
        dt.items.add(new File([f], name, { type: f.type }));
      });
      input.files = dt.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var target = form.matches(".new-request") ? document : form;
    target.addEventListener("paste", function (e) {
      var files = Array.prototype.filter.call((e.clipboardData && e.clipboardData.files) || [], function (f) { return f.type.indexOf("image/") === 0; });
      if (files.length) { add(files); e.preventDefault(); }
    });
    form.addEventListener("dragover", function (e) { e.preventDefault(); form.classList.add("dragging"); });
    form.addEventListener("dragleave", function () { form.classList.remove("dragging"); });
    form.addEventListener("drop", function (e) { e.preventDefault(); form.classList.remove("dragging"); add(e.dataTransfer.files); });
  });
  // Screenshot viewer.
  var viewer = document.getElementById("viewer");
  if (viewer && viewer.showModal) {
    document.querySelectorAll("a[data-viewer]").forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        var img = viewer.querySelector("img");
        img.src = a.href; img.alt = a.querySelector("img").alt;
        viewer.showModal();
      });
    });
  }
  // Dashboard tiles refresh every minute without reloading the page.
  document.querySelectorAll("[data-refresh]").forEach(function (section) {
    setInterval(function () {
      if (document.hidden) return;
      fetch(section.getAttribute("data-refresh"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) section.innerHTML = html; })
        .catch(function () {});
    }, 60000);
  });
  // The reproduction details matter for anomalies only.
  var repro = document.querySelector('fieldset[data-for-kind="anomaly"]');
  if (repro) {
    var kinds = document.querySelectorAll('input[name="type"]');
    var update = function () {
      var checked = document.querySelector('input[name="type"]:checked');
      repro.hidden = !(checked && checked.value === "anomaly");
    };
    kinds.forEach(function (k) { k.addEventListener("change", update); });
    update();
  }
})();

// Reports: a print button where printing is possible (the page prints without it too).
document.querySelectorAll(".print-button").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});

// "/" goes to the global search box, unless one is typing already.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  const box = document.getElementById("global-q");
  if (box) {
    event.preventDefault();
    box.focus();
  }
});

// While a request is typed, show open requests of the school and known
// incidents that look like it, so that the requester can follow one instead.
document.querySelectorAll("[data-similar]").forEach((box) => {
  const form = box.closest("form");
  if (!form) return;
  const fields = ["title", "description"].map((name) => form.elements.namedItem(name)).filter(Boolean);
  const school = form.elements.namedItem("establishment");
  let timer = null;
  let last = "";
  const refresh = () => {
    const text = fields.map((f) => f.value).join(" ").trim();
    if (text === last) return;
    last = text;
    if (text.length < 4) {
      box.innerHTML = "";
      return;
    }
    const params = new URLSearchParams({ text });
    if (school && school.value) params.set("establishment", school.value);
    fetch(`${box.dataset.similar}?${params}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : ""))
      .then((html) => {
        box.innerHTML = html;
      })
      .catch(() => {});
  };
  fields.forEach((f) =>
    f.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }),
  );
});
