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
  const fields = ["title", "description", "message"].map((name) => form.elements.namedItem(name)).filter(Boolean);
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

// The canned-response picker: a search box over the responses, keyboard
// first. "m" opens it, typing filters, arrows move, Enter inserts the
// response in the composer; Ctrl+Enter in the composer sends. Without this
// script the picker is a select whose "Insert" button reloads the page filled.
document.querySelectorAll("#canned-picker").forEach((picker) => {
  const select = picker.querySelector("select");
  const form = document.getElementById("comment-form");
  if (!select || !form) return;
  const body = form.elements.namedItem("body");
  const cannedField = form.elements.namedItem("canned");
  const sets = document.getElementById("canned-sets");
  const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const options = Array.from(select.options).map((o) => ({
    id: o.value,
    name: o.textContent,
    body: o.dataset.body || "",
    sets: o.dataset.sets || "",
    haystack: fold(`${o.textContent} ${o.dataset.body || ""}`),
  }));
  const label = picker.querySelector("label");
  const search = document.createElement("input");
  search.type = "search";
  search.id = "canned-search";
  search.autocomplete = "off";
  search.setAttribute("role", "combobox");
  search.setAttribute("aria-controls", "canned-list");
  search.setAttribute("aria-expanded", "false");
  search.placeholder = label ? label.textContent : "";
  const list = document.createElement("ul");
  list.id = "canned-list";
  list.className = "canned-list";
  list.setAttribute("role", "listbox");
  list.hidden = true;
  select.hidden = true;
  picker.querySelector("button").hidden = true;
  if (label) label.htmlFor = "canned-search";
  select.after(search, list);
  const keys = picker.querySelector(".canned-keys");
  if (keys) keys.hidden = false;
  let shown = [];
  let active = 0;
  const render = () => {
    const words = fold(search.value).split(/\s+/).filter(Boolean);
    shown = options.filter((o) => words.every((w) => o.haystack.includes(w)));
    active = Math.min(active, Math.max(shown.length - 1, 0));
    list.replaceChildren(
      ...shown.map((o, i) => {
        const li = document.createElement("li");
        li.id = `canned-option-${o.id}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.textContent = o.name;
        if (o.sets) {
          const meta = document.createElement("span");
          meta.className = "meta";
          meta.textContent = ` — ${o.sets}`;
          li.append(meta);
        }
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          insert(o);
        });
        return li;
      }),
    );
    if (!shown.length) {
      const li = document.createElement("li");
      li.className = "meta";
      li.textContent = picker.dataset.none || "—";
      list.append(li);
    }
    search.setAttribute("aria-activedescendant", shown.length ? `canned-option-${shown[active].id}` : "");
  };
  const open = () => {
    list.hidden = false;
    search.setAttribute("aria-expanded", "true");
    render();
  };
  const close = () => {
    list.hidden = true;
    search.setAttribute("aria-expanded", "false");
  };
  const insert = (o) => {
    body.value = o.body;
    cannedField.value = o.id;
    const reply = form.querySelector('input[name="kind"][value="reply"]');
    if (reply) reply.checked = true;
    if (sets) {
      sets.hidden = !o.sets;
      sets.querySelector("span").textContent = o.sets;
    }
    search.value = "";
    close();
    body.focus();
    body.setSelectionRange(0, 0);
  };
  search.addEventListener("focus", open);
  search.addEventListener("blur", close);
  search.addEventListener("input", () => {
    active = 0;
    open();
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!shown.length) return;
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (shown[active]) insert(shown[active]);
    } else if (e.key === "Escape") {
      close();
      body.focus();
    }
  });
  // A text emptied by hand no longer carries the response's actions.
  body.addEventListener("input", () => {
    if (body.value.trim() === "") {
      cannedField.value = "";
      if (sets) sets.hidden = true;
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "m" || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    e.preventDefault();
    search.focus();
  });
});

// Ctrl+Enter (or Cmd+Enter) sends the composer.
document.querySelectorAll("#comment-form textarea").forEach((area) => {
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      area.form.requestSubmit();
    }
  });
});

// Knowledge-base articles beside the composer: their link goes into the reply.
document.querySelectorAll("button[data-insert]").forEach((button) => {
  const area = document.querySelector("#comment-form textarea");
  if (!area) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const link = button.dataset.insert;
    area.value = area.value.trim() ? `${area.value.trimEnd()}\n\n${link}` : link;
    area.focus();
  });
});

// "This answered my question" under a suggested article: posts a form of its
// own, carrying the request form's CSRF token and establishment, so that the
// request being written is not filed.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-answered]") : null;
  if (!button) return;
  const outer = button.closest("form");
  const form = document.createElement("form");
  form.method = "post";
  form.action = button.dataset.answered;
  for (const name of ["_csrf", "establishment"]) {
    const field = outer && outer.elements.namedItem(name);
    if (field && "value" in field) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = field.value;
      form.append(input);
    }
  }
  document.body.append(form);
  form.submit();
});
