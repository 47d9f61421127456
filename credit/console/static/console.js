/* credit-ingest console: calls the platform's JSON API with the key kept in this tab. */
"use strict";
const Console = (() => {
  const KEY = "credit.key";
  const $ = (id) => document.getElementById(id);
  const key = () => sessionStorage.getItem(KEY) || "";
  const auth = () => ({ Authorization: "Bearer " + key() });

  async function api(path, options = {}) {
    const resp = await fetch(path, { ...options, headers: { ...auth(), ...(options.headers || {}) } });
    const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
    if (!resp.ok && resp.status !== 207) {
      throw new Error((body && (body.message || body.error)) || `HTTP ${resp.status}`);
    }
    return body;
  }

  async function download(path, name) {
    const resp = await fetch(path, { headers: auth() });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.message || `HTTP ${resp.status}`);
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await resp.blob());
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function show(id, text, isError = true) {
    const el = $(id);
    el.textContent = text;
    el.className = isError ? "error" : "ok";
    el.hidden = !text;
  }

  // Each role's first page: a provider's key leads to its uploads, the credit office's
  // token to its queues, an analyst's, a bank's or a third party's to the reports, a subject's
  // to its own credit report.
  const HOME = { provider: "/console/provider", admin: "/console/office",
                 analyst: "/console/analyst", bank: "/console/analyst", party: "/console/analyst" };
  const home = (me) => HOME[me.role] || "/console/report?code=" + encodeURIComponent(me.org);

  function signInPage() {
    $("sign-in").addEventListener("submit", async (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      try {
        location.href = home(await api("/api/whoami"));
      } catch (err) {
        sessionStorage.removeItem(KEY);
        show("sign-in-error", "登录失败：" + err.message);
      }
    });
  }

  // A signed-in page: who is signed in (in the header), sign-out, and the way back to the
  // sign-in page for a missing, expired or revoked token or a role the page is not for.
  async function signedIn(roles) {
    if (!key()) { location.href = "/console/"; return null; }
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      location.href = "/console/";
    });
    let me;
    try { me = await api("/api/whoami"); } catch (err) { location.href = "/console/"; return null; }
    if (!roles.includes(me.role)) { location.href = home(me); return null; }
    const ROLE_NAMES = { admin: "信用办", analyst: "分析人员", bank: "金融机构", party: "第三方机构",
                         subject: "信息主体", provider: "信息提供单位" };
    $("who").textContent = `${me.name}（${ROLE_NAMES[me.role]}${me.org ? " · " + me.org : ""}）`;
    for (const el of document.querySelectorAll("[data-roles]")) {
      el.hidden = !el.dataset.roles.split(" ").includes(me.role);
    }
    return me;
  }

  // A table body filled with rows of text cells; returns the rows, for action cells.
  function fill(tbody, rows, cells) {
    tbody.replaceChildren();
    return rows.map((r) => {
      const tr = tbody.insertRow();
      for (const value of cells(r)) {
        tr.insertCell().textContent = value === null || value === undefined ? "" : String(value);
      }
      return tr;
    });
  }

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  // a button's action: run it, then reload what it changed; its error shows in `errorId`
  const acting = (errorId, prefix) => (fn, reload) => async () => {
    show(errorId, "");
    try { await fn(); await reload(); } catch (err) { show(errorId, prefix + err.message); }
  };
  // an API time (ISO) as the pages show it: date and time to the second (or the minute)
  const when = (t, length = 19) => (t ? String(t).slice(0, length).replace("T", " ") : "");

  const post = (path, body) => api(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}) });
  const query = (params) => new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();
  const yuan = (n) => "¥" + Number(n).toLocaleString("zh-CN", { minimumFractionDigits: 2,
                                                                maximumFractionDigits: 2 });

  function send(path, form, onProgress) {  // XHR: fetch cannot report upload progress
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("Authorization", "Bearer " + key());
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(100 * e.loaded / e.total);
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status >= 400) reject(new Error(body.message || body.error || `HTTP ${xhr.status}`));
        else resolve(body);
      };
      xhr.onerror = () => reject(new Error("网络错误 / network error"));
      xhr.send(form);
    });
  }

  let polling = null;
  // The upload's fate, refreshed every second until it is complete (or held). After a
  // replay the upload is complete already: `until` then says when the replayed rows are in
  // (at most `patience` seconds; the stream may refuse a corrected row again).
  async function follow(uploadId, until = null, patience = 0) {
    $("fate-section").hidden = false;
    $("upload-id").textContent = uploadId;
    clearTimeout(polling);
    const fate = await api("/api/uploads/" + encodeURIComponent(uploadId));
    for (const name of ["received", "stored", "rejected", "held", "pending"]) {
      $(name).textContent = fate[name];
    }
    const waiting = !fate.held && (!fate.complete || (until !== null && !until(fate) && patience > 0));
    const status = fate.held ? "已暂扣：" + fate.held_reason
      : waiting ? "处理中… / in progress" : "处理完成 / complete";
    show("fate-status", status, Boolean(fate.held));
    $("report-box").hidden = !(fate.complete && fate.rejected > 0 && !waiting);
    if (waiting) polling = setTimeout(() => follow(uploadId, until, patience - 1), 1000);
    else showCalendar().catch(() => {});  // the delivery now counts in the calendar
  }

  const CYCLES = { realtime: "实时", weekly: "每周", monthly: "每月", quarterly: "每季度",
                   yearly: "每年" };

  async function showCalendar() {
    const cal = await api("/api/provider/calendar");
    $("calendar-department").textContent = cal.department;
    const body = $("calendar").tBodies[0];
    body.replaceChildren();
    for (const c of cal.classes) {
      const row = body.insertRow();
      const status = c.status === "on_time" ? "按时"
        : c.status === "missing" ? `${c.due_period} 的数据未到（逾期 ${c.days_late} 个工作日）`
        : `逾期 ${c.days_late} 个工作日`;
      const cells = [c.class_name, CYCLES[c.cycle] || c.cycle, c.due_period || "",
                     c.next_due || "", c.last_arrival || "未报送", status];
      for (const text of cells) row.insertCell().textContent = text;
      row.dataset.classCode = c.class_code;
      if (c.late) row.className = "late";
    }
  }

  async function providerPage() {
    if (!(await signedIn(["provider"]))) return;
    let me;
    try { me = await api("/api/provider"); } catch (err) { location.href = "/console/"; return; }
    for (const c of me.classes) $("class").add(new Option(`${c.name}（${c.code}）`, c.code));
    showCalendar().catch((err) => show("upload-error", "报送日历读取失败：" + err.message));
    Objections.load("objection-table", "", acting("objection-error", "处理失败："), false)
      .catch((err) => show("objection-error", "异议读取失败：" + err.message))
      .finally(() => { document.body.dataset.ready = "1"; });
    setInterval(() => showCalendar().catch(() => {}), 10000);  // deliveries land a little later
    $("template").addEventListener("click", () =>
      download("/api/templates/" + $("class").value, $("class").value + "-模板.xlsx")
        .catch((err) => show("upload-error", "下载失败：" + err.message)));
    let current = "";
    $("upload-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      show("upload-error", "");
      const form = new FormData();
      form.append("file", $("file").files[0]);
      if ($("period").value.trim()) form.append("period", $("period").value.trim());
      $("upload").disabled = true;
      try {
        const answer = await send("/api/files/" + $("class").value, form,
                                  (pct) => { $("progress").value = pct; });
        $("progress").value = 100;
        current = answer.upload_id;
        await follow(current);
      } catch (err) {
        show("upload-error", "上传失败：" + err.message);
      } finally {
        $("upload").disabled = false;
      }
    });
    $("report").addEventListener("click", () =>
      download(`/api/uploads/${current}/report.xlsx`, `${current}-错误报告.xlsx`)
        .catch((err) => show("replay-result", "下载失败：" + err.message)));
    $("replay-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData();
      form.append("file", $("replay-file").files[0]);
      try {
        const answer = await send(`/api/uploads/${current}/replay`, form, () => {});
        show("replay-result", `已重新提交 ${answer.replayed} 行，仍被拒绝 ${answer.rejected_again} 行`,
             answer.rejected_again > 0);
        const before = Number($("rejected").textContent);
        const settled = (fate) => fate.rejected <= before - answer.sent;
        await follow(current, settled, 120);
      } catch (err) {
        show("replay-result", "重新提交失败：" + err.message);
      }
    });
  }

  return { signInPage, providerPage, signedIn, api, download, show, fill, button, post, query,
           yuan, acting, when, $ };
})();
