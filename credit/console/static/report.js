/* A subject's standardized credit report as the API gives it to the caller: its scope
   (public or authorized) and masking are the server's, per role; this page only lays it out,
   draws the monthly figures and, for the subject itself, files objections. */
"use strict";
const Report = (() => {
  const { api, post, query, show, yuan, $ } = Console;
  const KINDS = { water: "水费", power: "电费", gas: "燃气费", telecom: "通信费", heat: "热力费" };
  const label = (kind) => KINDS[kind] || kind;

  function identity(report, purpose) {
    const id = report.identity;
    $("as-of").textContent = report.as_of;
    $("scope").textContent = report.scope === "authorized" ? "授权版（含授权查询信息）" : "公开版";
    $("shown-purpose").textContent = purpose || "本人查询";
    $("id-name").textContent = id.name;
    $("id-code").textContent = id.code;
    $("id-kind").textContent = id.kind_label;
    $("id-district").textContent = id.district;
    $("id-industry").textContent = id.industry || "—";
    const lists = [];
    if (report.lists.on_black_list) lists.push("黑名单：" + report.lists.black.map((e) => e.name).join("、"));
    if (report.lists.on_red_list) lists.push("红名单：" + report.lists.red.map((e) => e.name).join("、"));
    $("id-lists").textContent = lists.join("；") || "无";
  }

  function figures(rows) {
    $("figures-section").hidden = rows.length === 0;
    const body = $("figures").tBodies[0];
    body.replaceChildren();
    $("figure-charts").replaceChildren();
    for (const f of rows) {
      const tr = body.insertRow();
      for (const text of [label(f.kind), f.arrears_flag ? "是" : "否", yuan(f.arrears_amount),
                          f.days_overdue, [f.avg_amount_3, f.avg_amount_6, f.avg_amount_12]
                            .map(yuan).join(" / "), f.consecutive_paid_months, f.last_month]) {
        tr.insertCell().textContent = String(text);
      }
      if (f.arrears_flag) tr.classList.add("late");
      const box = document.createElement("div");
      box.className = "chart";
      $("figure-charts").append(box);
      const months = f.history.map((h) => String(h.month).slice(0, 7));
      Charts.bars(box, `${label(f.kind)}：每月金额与欠费`, months, [
        { name: "金额（元）", values: f.history.map((h) => h.amount) },
        { name: "欠费（元）", values: f.history.map((h) => h.arrears_amount) }]);
    }
  }

  const text = (v) => v === null || v === undefined ? "" : v === true ? "是" : v === false ? "否"
    : String(v);

  function section(cls, canObject) {
    const box = document.createElement("section");
    box.className = "report-class";
    box.dataset.classCode = cls.class_code;
    const h = document.createElement("h3");
    h.textContent = `${cls.name}（${cls.count} 条${cls.negative ? "，失信信息" : ""}）`;
    const table = document.createElement("table");
    table.className = "data";
    const fields = Object.keys(cls.labels);
    const head = table.createTHead().insertRow();
    for (const text of ["记录日期", ...fields.map((f) => cls.labels[f]), ...(canObject ? [""] : [])]) {
      head.append(Object.assign(document.createElement("th"), { textContent: text }));
    }
    const body = table.createTBody();
    for (const r of cls.records) {
      const tr = body.insertRow();
      tr.dataset.recordKey = r.record_key;
      for (const value of [r.event_date, ...fields.map((f) => r[f])]) {
        tr.insertCell().textContent = text(value);
      }
      if (r.repaired) tr.classList.add("repaired");
      if (canObject) {
        tr.insertCell().append(Console.button("提出异议", () => objectTo(cls, r)));
      }
    }
    box.append(h, table);
    return box;
  }

  let target = null;
  function objectTo(cls, record) {
    target = { class_code: cls.class_code, record_key: record.record_key };
    $("objection-record").textContent = `${cls.name} · ${record.record_key}`;
    $("objection-result").textContent = "";
    $("objection-box").hidden = false;
    $("objection-grounds").focus();
  }

  async function render(code, purpose, me) {
    const report = await api(`/api/subjects/${encodeURIComponent(code)}?` + query({ purpose }));
    identity(report, purpose);
    figures(report.aggregates || []);
    const own = me.role === "subject";
    $("classes").replaceChildren(...report.classes.map((c) => section(c, own)));
    const c = report.counts;
    $("counts").textContent = `共 ${c.records} 条记录，其中失信 ${c.negative_records} 条`
      + (c.withheld ? `；${c.withheld} 条异议处理中，暂不展示` : "");
    $("report").hidden = false;
  }

  // a subject's own page: its consents to third parties (授权) and who read its data
  async function consents(me) {
    const list = (await api("/api/authorizations")).authorizations;
    const trs = Console.fill($("consent-table").tBodies[0], list, (a) => [
      a.auth_id, a.institution, a.purpose, a.valid_from, a.valid_to,
      a.revoked_at ? "已撤销" : a.active ? "有效" : "未生效或已过期", ""]);
    trs.forEach((tr, i) => {
      if (list[i].revoked_at) return;
      tr.lastChild.append(Console.button("撤销", async () => {
        try {
          await post(`/api/authorizations/${encodeURIComponent(list[i].auth_id)}/revoke`);
          await consents(me);
        } catch (err) { show("consent-result", "撤销失败：" + err.message); }
      }));
    });
    const reads = (await api("/api/audit?" + query({ subject: me.org }))).reads;
    Console.fill($("read-table").tBodies[0], reads, (r) => [
      Console.when(r.at), r.reader, r.organization, r.what, r.purpose,
      r.outcome]);
  }

  function ownPage(me) {
    $("consent-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const a = await post("/api/authorizations", { subject: me.org,
          institution: $("consent-party").value.trim(), purpose: $("consent-purpose").value.trim(),
          valid_to: $("consent-to").value });
        show("consent-result", `已授权 ${a.institution}（${a.auth_id}）`, false);
        await consents(me);
      } catch (err) { show("consent-result", "授权失败：" + err.message); }
    });
    return consents(me).catch((err) => show("consent-result", "读取失败：" + err.message));
  }

  async function page() {
    const me = await Console.signedIn(["admin", "analyst", "bank", "party", "subject"]);
    if (!me) return;
    $("print").addEventListener("click", () => window.print());
    // the code and purpose: in the address for a company from the risk list, else as the
    // look-up form left them in this tab (a person's ID never sits in the address or history)
    const params = new URLSearchParams(location.search);
    const asked = JSON.parse(sessionStorage.getItem("credit.report") || "{}");
    if (!params.get("code") && asked.code) {
      for (const [k, v] of Object.entries(asked)) params.set(k, v);
    }
    const code = me.role === "subject" ? me.org : (params.get("code") || "").trim();
    const needsPurpose = ["analyst", "bank", "party"].includes(me.role);
    const run = (purpose) => render(code, purpose, me)
      .catch((err) => show("report-error", "报告读取失败：" + err.message))
      .finally(() => { document.body.dataset.ready = "1"; });
    $("objection-cancel").addEventListener("click", () => { $("objection-box").hidden = true; });
    $("objection-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const obj = await post("/api/objections", { ...target, grounds: $("objection-grounds").value });
        show("objection-result", `异议已登记（${obj.objection_id}），该记录在处理期间暂停对外展示`, false);
        await run("");
      } catch (err) {
        show("objection-result", "提交失败：" + err.message);
      }
    });
    const purpose = params.get("purpose") || "";
    if (needsPurpose && !purpose) {
      $("purpose-form").hidden = false;
      $("purpose-form").addEventListener("submit", (event) => {
        event.preventDefault();
        sessionStorage.setItem("credit.report", JSON.stringify({
          code, purpose: $("purpose").value.trim() }));
        location.href = "/console/report";
      });
      document.body.dataset.ready = "1";
      return;
    }
    await run(purpose);
    if (me.role === "subject") await ownPage(me);
  }

  return { page };
})();
