// orderimport UI script: progressive enhancement only. Every page works without it; with it the
// connection check and the preview answer in place (through the JSON API), the mapping table
// shows the expression input only when it is chosen, and a running import updates itself.
// Words come from the page's catalogue (<script type="application/json" id="oi-i18n">).
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var catalogue = {};
  var catEl = document.getElementById("oi-i18n");
  if (catEl) {
    try { catalogue = JSON.parse(catEl.textContent); } catch (e) { catalogue = {}; }
  }

  // T formats a catalogue entry: %s and %d take the arguments in order, %% is a percent sign.
  function T(key) {
    var args = Array.prototype.slice.call(arguments, 1);
    var i = 0;
    var msg = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
    return msg.replace(/%[sd%]/g, function (verb) {
      if (verb === "%%") { return "%"; }
      return i < args.length ? String(args[i++]) : "";
    });
  }

  var lang = document.documentElement.lang || "ru";

  // Numbers read exactly as the server writes them (internal/locale): the separators and the
  // minus sign come with the catalogue, and amounts are rounded on their text, never through
  // binary floating point.
  var group = catalogue["number.group"] || ",";
  var decimalMark = catalogue["number.decimal"] || ".";
  var minus = catalogue["number.minus"] || "-";
  var plainDecimal = /^-?[0-9]+(\.[0-9]+)?$/;

  // formatNumber groups a plain decimal text ("-1234567.5") for reading; other text stays.
  function formatNumber(text) {
    var s = String(text);
    if (!plainDecimal.test(s)) { return s; }
    var neg = s.charAt(0) === "-";
    if (neg) { s = s.slice(1); }
    var parts = s.split(".");
    var whole = parts[0].replace(/\B(?=([0-9]{3})+$)/g, group);
    return (neg ? minus : "") + whole + (parts.length > 1 ? decimalMark + parts[1] : "");
  }

  // roundText rounds a plain decimal text to places decimals, half away from zero, padded.
  function roundText(text, places) {
    var s = String(text);
    if (!plainDecimal.test(s)) { return s; }
    var neg = s.charAt(0) === "-";
    if (neg) { s = s.slice(1); }
    var parts = s.split(".");
    var frac = parts[1] || "";
    while (frac.length < places + 1) { frac += "0"; }
    var digits = (parts[0] + frac.slice(0, places)).split("").map(Number);
    if (frac.charAt(places) >= "5") {
      var i = digits.length - 1;
      for (; i >= 0; i--) {
        if (digits[i] === 9) { digits[i] = 0; continue; }
        digits[i]++;
        break;
      }
      if (i < 0) { digits.unshift(1); }
    }
    var d = digits.join("");
    var out = d.slice(0, d.length - places) + (places > 0 ? "." + d.slice(d.length - places) : "");
    return (neg && /[1-9]/.test(out) ? "-" : "") + out;
  }

  // formatDateTime shows an order's stored date and time ("2026-12-07 01:44:51") in the
  // layout the server uses, which comes as its own rendering of Go's reference time.
  var dateTimeLayout = catalogue["format.datetime"] || "2006-01-02 15:04:05";
  function formatDateTime(text) {
    var m = /^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})$/.exec(String(text));
    if (!m) { return String(text); }
    var parts = { "2006": m[1], "01": m[2], "02": m[3], "15": m[4], "04": m[5], "05": m[6] };
    return dateTimeLayout.replace(/2006|01|02|15|04|05/g, function (k) { return parts[k]; });
  }

  function num(n) { return formatNumber(String(n || 0)); }
  function money(text) { return formatNumber(roundText(text, 2)); }
  function percent(n) { return T("number.percent", num(n)); }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // api calls the JSON API with the browser session; state-changing calls carry the CSRF token.
  function api(method, path, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      // The API answers in the page's language (it speaks English to anyone who does not ask).
      headers: { "Accept": "application/json", "Accept-Language": lang, "X-CSRF-Token": csrfToken() }
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        return { status: resp.status, data: data };
      });
    });
  }

  var errorSummary = document.getElementById("error-summary");
  if (errorSummary) { errorSummary.focus(); }

  initTaskForm(document.getElementById("task-form"));
  initLiveRun(document.getElementById("live"));

  // ---- The «Новое подключение RetailCRM» form ----

  function initTaskForm(form) {
    if (!form) { return; }
    var exprChoice = "__expr";

    function syncExpr(select) {
      var box = select.parentNode.querySelector(".expr");
      if (!box) { return; }
      var input = box.querySelector("input");
      if (select.value === exprChoice) {
        box.classList.remove("js-hide");
      } else {
        box.classList.add("js-hide");
        input.value = "";
      }
    }
    form.querySelectorAll("select.map-select").forEach(function (select) {
      select.addEventListener("change", function () {
        syncExpr(select);
        if (select.value === exprChoice) {
          select.parentNode.querySelector(".expr input").focus();
        }
      });
    });

    // «После сохранения начнётся импорт» says what saving will do with the switch as it is now;
    // the server says which positions of the switch start an import.
    var active = form.querySelector("#f-active");
    var saveNote = document.getElementById("save-note");
    if (active && saveNote) {
      active.addEventListener("change", function () {
        saveNote.hidden = (active.checked ? saveNote.dataset.ifOn : saveNote.dataset.ifOff) !== "true";
      });
    }

    var urlInput = form.querySelector("#f-url");
    var keyInput = form.querySelector("#f-key");
    var sealed = form.querySelector('input[name="key_sealed"]');
    var originalURL = urlInput ? urlInput.value : "";

    // The API can be used when the key is in the page; a key kept by the server (stored, or
    // typed earlier and sealed) is used by a normal form post instead.
    function canUseAPI() {
      if (keyInput.value.trim() !== "") { return true; }
      return form.dataset.task !== undefined && (!sealed || sealed.value === "") && urlInput.value.trim() === originalURL;
    }

    // fallback posts the form the ordinary way: the server answers with the page, errors in
    // words next to their fields.
    function fallback(button) {
      button.dataset.jsOff = "1";
      button.removeAttribute("aria-busy");
      button.click();
    }

    function busy(button, on) {
      if (on) { button.setAttribute("aria-busy", "true"); } else { button.removeAttribute("aria-busy"); }
      button.disabled = on;
    }

    function clearFieldError(id) {
      var input = document.getElementById(id);
      var err = document.getElementById(id + "-err");
      if (err) { err.remove(); }
      if (input) {
        input.removeAttribute("aria-invalid");
        var field = input.closest(".field");
        if (field) { field.classList.remove("invalid"); }
      }
    }

    function message(container, text) {
      container.textContent = "";
      var p = document.createElement("p");
      p.className = "alert";
      p.textContent = text;
      container.appendChild(p);
    }

    var checkButton = form.querySelector('[data-js="check"]');
    if (checkButton) {
      checkButton.addEventListener("click", function (ev) {
        if (checkButton.dataset.jsOff || !canUseAPI() || keyInput.value.trim() === "") { return; }
        ev.preventDefault();
        var result = document.getElementById("check-result");
        busy(checkButton, true);
        result.textContent = T("js.working");
        api("POST", "/api/v1/retailcrm/check", { url: urlInput.value.trim(), api_key: keyInput.value.trim() })
          .then(function (res) {
            busy(checkButton, false);
            if (res.status !== 200) { fallback(checkButton); return; }
            clearFieldError("f-url");
            clearFieldError("f-key");
            showCheck(result, res.data);
            offerCustomFields(res.data.custom_fields || [], res.data.suggestions || {});
            fillReference(res.data);
            runEstimate();
          })
          .catch(function () { busy(checkButton, false); message(result, T("js.network")); });
      });
    }

    function showCheck(result, data) {
      var tpl = document.getElementById("check-tpl");
      var node = tpl.content.cloneNode(true);
      var scopes = node.querySelector('[data-slot="scopes"]');
      var names = data.scope_names || {};
      scopes.textContent = (data.scopes || []).map(function (s) { return names[s] || s; }).join(", ");
      node.querySelector('[data-slot="sites"]').textContent = (data.sites || []).map(function (s) {
        return s.name + " (" + s.code + ")";
      }).join(", ");
      node.querySelector('[data-slot="timezone"]').textContent = data.timezone_name || data.timezone || "";
      node.querySelector('[data-slot="custom"]').textContent = num((data.custom_fields || []).length);
      result.textContent = "";
      result.appendChild(node);
    }

    // customExpr is the path of a custom field, as the mapping package writes it.
    function customExpr(code) {
      var reserved = ["and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else", "nil", "true", "false"];
      if (/^[\p{L}_][\p{L}\p{N}_]*$/u.test(code) && reserved.indexOf(code) < 0) {
        return "customFields." + code;
      }
      return "customFields[" + JSON.stringify(code) + "]";
    }

    function offerCustomFields(fields, suggestions) {
      document.getElementById("custom-fields").value = fields.length ? JSON.stringify(fields) : "";
      form.querySelectorAll("select.map-select").forEach(function (select) {
        var group = select.querySelector("optgroup.custom-group");
        if (!group) { return; }
        var current = select.value;
        group.textContent = "";
        fields.forEach(function (f) {
          var opt = document.createElement("option");
          opt.value = customExpr(f.code);
          opt.textContent = T("choice.custom_field", f.name || f.code);
          // The account's name for the field: data, which an option cannot mark apart.
          opt.setAttribute("translate", "no");
          group.appendChild(opt);
        });
        select.value = current;
        if (select.value !== current) {
          select.value = exprChoice;
        }
      });
      Object.keys(suggestions).forEach(function (field) {
        var list = suggestions[field] || [];
        var select = document.getElementById("map-" + field);
        if (!select || list.length === 0 || select.value !== "") { return; }
        select.value = list[0];
        syncExpr(select);
        if (!document.getElementById("map-" + field + "-sugg")) {
          var note = document.createElement("p");
          note.className = "suggested";
          note.id = "map-" + field + "-sugg";
          note.textContent = T("form.suggested");
          select.parentNode.appendChild(note);
          select.setAttribute("aria-describedby", (select.getAttribute("aria-describedby") || "") + " " + note.id);
        }
      });
    }

    // ---- What counts: the status groups and statuses, the stores ----

    var groupsBox = document.getElementById("count-groups");
    var sitesList = document.getElementById("sites-list");

    // syncGroup greys out a group's statuses while the group itself is not checked: they do not
    // count whatever their boxes say (and are not sent).
    function syncGroup(group) {
      var box = group.querySelector('input[name="count_group"]');
      group.classList.toggle("off", !box.checked);
      group.querySelectorAll('input[name="count_status"]').forEach(function (s) { s.disabled = !box.checked; });
    }
    if (groupsBox) {
      groupsBox.querySelectorAll(".count-group").forEach(syncGroup);
      groupsBox.addEventListener("change", function (ev) {
        if (ev.target.name === "count_group") { syncGroup(ev.target.closest(".count-group")); }
      });
    }

    function clone(id) { return document.getElementById(id).content.firstElementChild.cloneNode(true); }

    // fillReference lays out the account's groups, statuses and stores as the check named them,
    // keeping what was already chosen for the codes already on the form.
    function fillReference(data) {
      if (!groupsBox || !sitesList) { return; }
      var groups = data.status_groups || [];
      var sites = data.sites || [];
      document.getElementById("reference").value = JSON.stringify({ status_groups: groups, sites: sites,
        default_currency: data.default_currency || "", reference_readable: !!data.reference_readable });
      var groupOn = {}, statusOff = {}, siteOn = {};
      var hadSites = sitesList.querySelectorAll("input").length > 0;
      groupsBox.querySelectorAll('input[name="count_group"]').forEach(function (b) { groupOn[b.value] = b.checked; });
      groupsBox.querySelectorAll('input[name="count_status"]').forEach(function (b) { if (!b.checked) { statusOff[b.value] = true; } });
      sitesList.querySelectorAll("input").forEach(function (b) { siteOn[b.value] = b.checked; });
      groupsBox.querySelectorAll(".count-group").forEach(function (g) { g.remove(); });
      groups.forEach(function (g) {
        var node = clone("count-group-tpl");
        node.dataset.group = g.code;
        var box = node.querySelector("input");
        box.id = "cg-" + g.code;
        box.value = g.code;
        box.checked = Object.prototype.hasOwnProperty.call(groupOn, g.code) ? groupOn[g.code] : g.counted_by_default;
        var label = node.querySelector("label");
        label.htmlFor = box.id;
        label.textContent = g.name;
        var ul = node.querySelector("ul");
        (g.statuses || []).forEach(function (st) {
          var li = clone("count-status-tpl");
          var sb = li.querySelector("input");
          sb.id = "cs-" + st.code;
          sb.value = st.code;
          sb.checked = !statusOff[st.code];
          var sl = li.querySelector("label");
          sl.htmlFor = sb.id;
          sl.querySelector("span").textContent = st.name;
          if (!st.active) {
            var note = document.createElement("span");
            note.className = "muted small";
            note.textContent = " " + T("form.status_inactive");
            sl.appendChild(note);
          }
          ul.appendChild(li);
        });
        groupsBox.appendChild(node);
        syncGroup(node);
      });
      sitesList.textContent = "";
      sites.forEach(function (st) {
        var li = clone("site-tpl");
        var b = li.querySelector("input");
        b.id = "site-" + st.code;
        b.value = st.code;
        b.checked = !hadSites || !Object.prototype.hasOwnProperty.call(siteOn, st.code) || siteOn[st.code];
        var l = li.querySelector("label");
        l.htmlFor = b.id;
        var spans = l.querySelectorAll("span");
        spans[0].textContent = st.name;
        spans[1].textContent = st.code + (st.currency ? " · " + st.currency : "");
        sitesList.appendChild(li);
      });
      if (!form.querySelector('input[name="counting_shown"]')) {
        var shown = document.createElement("input");
        shown.type = "hidden";
        shown.name = "counting_shown";
        shown.value = "1";
        groupsBox.parentNode.insertBefore(shown, groupsBox);
      }
      var wait = document.getElementById("counting-wait");
      if (wait) { wait.hidden = true; }
      var unreadable = document.getElementById("counting-unreadable");
      if (!data.reference_readable && !unreadable) {
        unreadable = document.createElement("p");
        unreadable.className = "alert";
        unreadable.id = "counting-unreadable";
        unreadable.textContent = T("form.counting_unreadable");
        groupsBox.parentNode.insertBefore(unreadable, groupsBox);
      } else if (data.reference_readable && unreadable) {
        unreadable.remove();
      }
    }

    // ---- The estimate of the first import ----

    var estimateButton = form.querySelector('[data-js="estimate"]');
    var estimateResult = document.getElementById("estimate-result");

    // chosenSites are the stores the task would import ([] for every store).
    function chosenSites() {
      if (!sitesList) { return []; }
      var boxes = Array.prototype.slice.call(sitesList.querySelectorAll("input"));
      var on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      return on.length === boxes.length ? [] : on;
    }

    // runEstimate asks the API what the first run reads; false when the page cannot (the key is
    // kept by the server: the button posts the form instead).
    function runEstimate() {
      if (!estimateResult || !canUseAPI()) { return false; }
      var body = {
        retailcrm: { url: urlInput.value.trim() },
        backfill_from: form.querySelector("#f-backfill").value,
        backfill_to: form.querySelector("#f-backfill-to").value,
        sites: chosenSites()
      };
      if (keyInput.value.trim() !== "") { body.retailcrm.api_key = keyInput.value.trim(); }
      if (form.dataset.task !== undefined && urlInput.value.trim() === originalURL) { body.task_id = Number(form.dataset.task); }
      estimateResult.textContent = T("js.working");
      api("POST", "/api/v1/imports/estimate", body)
        .then(function (res) {
          if (res.status === 200) {
            estimateResult.textContent = res.data.text;
          } else {
            estimateResult.textContent = (res.data.error && res.data.error.message) || T("js.network");
          }
        })
        .catch(function () { estimateResult.textContent = T("js.network"); });
      return true;
    }
    if (estimateButton) {
      estimateButton.addEventListener("click", function (ev) {
        if (estimateButton.dataset.jsOff) { return; }
        if (runEstimate()) { ev.preventDefault(); }
      });
    }
    // Once an estimate is on the form, it follows the dates and the stores.
    var estimateTimer = 0;
    function reestimate() {
      if (!estimateResult || estimateResult.textContent.trim() === "") { return; }
      window.clearTimeout(estimateTimer);
      estimateTimer = window.setTimeout(runEstimate, 400);
    }
    ["f-backfill", "f-backfill-to"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("change", reestimate); }
    });
    if (sitesList) { sitesList.addEventListener("change", reestimate); }

    var previewButton = form.querySelector('[data-js="preview"]');
    if (previewButton) {
      previewButton.addEventListener("click", function (ev) {
        if (previewButton.dataset.jsOff || !canUseAPI()) { return; }
        ev.preventDefault();
        var result = document.getElementById("preview-result");
        var body = {
          retailcrm: { url: urlInput.value.trim() },
          mapping: {},
          counter_id: Number(form.dataset.counter),
          limit: 10
        };
        if (keyInput.value.trim() !== "") { body.retailcrm.api_key = keyInput.value.trim(); }
        if (form.dataset.task !== undefined && urlInput.value.trim() === originalURL) { body.task_id = Number(form.dataset.task); }
        form.querySelectorAll(".map-row").forEach(function (row) {
          var select = row.querySelector("select.map-select");
          var value = select.value === exprChoice ? row.querySelector(".expr input").value.trim() : select.value;
          body.mapping[row.dataset.field] = value;
        });
        busy(previewButton, true);
        result.textContent = T("js.working");
        api("POST", "/api/v1/imports/preview", body)
          .then(function (res) {
            busy(previewButton, false);
            if (res.status !== 200) { fallback(previewButton); return; }
            showPreview(result, res.data.orders || []);
          })
          .catch(function () { busy(previewButton, false); message(result, T("js.network")); });
      });
    }

    function showPreview(result, orders) {
      var node = document.getElementById("preview-tpl").content.cloneNode(true);
      var heads = Array.prototype.slice.call(node.querySelectorAll("thead th[data-field]"));
      var titles = {};
      heads.forEach(function (h) { titles[h.dataset.field] = h.textContent; });
      var numberLabel = node.querySelector("thead th").textContent;
      var issuesLabel = node.querySelector("thead th.issues-col").textContent;
      var tbody = node.querySelector("tbody");
      var rejected = 0, flagged = 0;
      orders.forEach(function (o) {
        var issues = o.issues || [];
        if (o.rejected) { rejected++; } else if (issues.length) { flagged++; }
        var tr = document.createElement("tr");
        if (o.rejected) { tr.className = "rejected"; }
        var th = document.createElement("th");
        th.scope = "row";
        th.dataset.label = numberLabel;
        var number = document.createElement("span");
        number.setAttribute("translate", "no");
        number.textContent = o.number;
        th.appendChild(number);
        if (o.rejected) {
          var badge = document.createElement("span");
          badge.className = "badge bad";
          badge.textContent = T("preview.rejected");
          th.appendChild(document.createTextNode(" "));
          th.appendChild(badge);
        }
        tr.appendChild(th);
        var notes = document.createElement("td");
        notes.className = "issues-col";
        notes.dataset.label = issuesLabel;
        issues.forEach(function (is) { notes.appendChild(note(is, titles[is.field])); });
        tr.appendChild(notes);
        heads.forEach(function (h) {
          var field = h.dataset.field;
          var td = document.createElement("td");
          td.dataset.label = h.textContent;
          var value = o.order ? o.order[field] : "";
          if (Array.isArray(value)) { value = value.join(","); }
          td.setAttribute("translate", "no");
          td.className = h.className;
          if (value !== "" && value !== null && value !== undefined) {
            td.textContent = shown(h.dataset.format, value);
          } else {
            var dash = document.createElement("span");
            dash.className = "muted";
            dash.textContent = "—";
            td.appendChild(dash);
          }
          var mine = issues.filter(function (is) { return is.field === field; });
          if (mine.length) {
            td.classList.add("bad");
            td.title = mine.map(function (is) { return is.message; }).join("; ");
          }
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      node.querySelector('[data-slot="summary"]').textContent = T("preview.summary", num(orders.length), num(rejected), num(flagged));
      result.textContent = "";
      result.appendChild(node);
    }

    // shown is a stored value as the orders table shows it (the column says how).
    function shown(format, value) {
      switch (format) {
        case "money": return money(value);
        case "number": return formatNumber(value);
        case "datetime": return formatDateTime(value);
      }
      return value;
    }

    function note(issue, title) {
      var div = document.createElement("div");
      div.className = "note";
      if (title) {
        var strong = document.createElement("strong");
        strong.textContent = title + ":";
        div.appendChild(strong);
        div.appendChild(document.createTextNode(" "));
      }
      div.appendChild(document.createTextNode(issue.message));
      if (issue.detail) {
        div.appendChild(document.createTextNode(" "));
        var detail = document.createElement("code");
        detail.className = "detail";
        detail.textContent = issue.detail;
        div.appendChild(detail);
      }
      if (issue.value) {
        div.appendChild(document.createTextNode(" "));
        var code = document.createElement("code");
        code.className = "value";
        code.textContent = issue.value;
        div.appendChild(code);
      }
      return div;
    }
  }

  // ---- A running import on the task page ----

  function initLiveRun(live) {
    if (!live) { return; }
    var runID = live.dataset.run;
    var bar = document.getElementById("live-bar");
    var badge = document.querySelector("#run-badge .badge");
    var failures = 0;

    function set(key, text) {
      document.querySelectorAll('[data-k="' + key + '"]').forEach(function (el) { el.textContent = text; });
    }

    function eta(seconds) {
      if (seconds < 60) { return T("progress.eta_seconds", Math.floor(seconds) + 1); }
      if (seconds < 3600) { return T("progress.eta_minutes", Math.round(seconds / 60)); }
      return T("progress.eta_hours", Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60);
    }

    function update(run) {
      var phaseKey = "progress.phase." + (run.phase || "waiting");
      set("phase", Object.prototype.hasOwnProperty.call(catalogue, phaseKey) ? T(phaseKey) : run.phase);
      set("pages", num(run.pages));
      set("fetched", num(run.fetched));
      set("requests", num(run.requests));
      set("created", num(run.created));
      set("updated", num(run.updated));
      set("deleted", num(run.deleted));
      set("invalid", num(run.invalid));
      if (run.progress_total > 0) {
        var pct = Math.min(100, Math.floor(run.progress_done * 100 / run.progress_total));
        bar.value = pct;
        bar.textContent = percent(pct);
        set("percent", percent(pct));
      }
      if (run.started_at) {
        var elapsed = (Date.now() - Date.parse(run.started_at)) / 1000;
        if (elapsed > 0) {
          set("rate", T("progress.rate", formatNumber((run.fetched / elapsed).toFixed(1))));
          if (run.progress_total > 0 && run.progress_done > 0 && run.progress_done < run.progress_total) {
            set("eta", eta(elapsed * (run.progress_total - run.progress_done) / run.progress_done));
          }
        }
      }
      if (badge) {
        badge.textContent = T("run.status." + run.status);
      }
    }

    function finished(status) {
      return status !== "queued" && status !== "running";
    }

    function poll() {
      api("GET", "/api/v1/runs/" + encodeURIComponent(runID))
        .then(function (res) {
          if (res.status === 401 || res.status === 404) { return; }
          if (res.status !== 200) { throw new Error("status " + res.status); }
          failures = 0;
          update(res.data);
          if (finished(res.data.status)) {
            var p = document.createElement("p");
            p.className = "small";
            p.textContent = T("js.finished");
            live.appendChild(p);
            var url = new URL(window.location.href);
            url.searchParams.delete("done");
            url.searchParams.set("run", runID);
            window.location.replace(url.toString());
            return;
          }
          window.setTimeout(poll, 1000);
        })
        .catch(function () {
          failures++;
          window.setTimeout(poll, Math.min(30000, 1000 * Math.pow(2, failures)));
        });
    }
    window.setTimeout(poll, 500);
  }
})();
