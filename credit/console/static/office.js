/* The credit office's pages: compliance, objections, repairs, held uploads, authorizations,
   the usage log, tokens and keys — each a table over the JSON API with its actions; the
   outbound targets' section is outbound.js's. */
"use strict";
const Office = (() => {
  const { api, post, query, fill, button, show, when, $ } = Console;
  const today = () => new Date().toISOString().slice(0, 10);
  const fail = (err) => show("office-error", "操作失败：" + err.message);
  const CYCLES = { realtime: "实时", weekly: "每周", monthly: "每月", quarterly: "每季度",
                   yearly: "每年" };
  const STATUS = { on_time: "按时", late: "逾期", missing: "未报送" };

  const act = Console.acting("office-error", "操作失败：");  // errors at the top of the page

  async function compliance() {
    const district = $("compliance-district").value.trim();
    const stats = await api("/api/stats/collection?" + query({ district }));
    let rows = stats.rows;
    if ($("compliance-late").checked) rows = rows.filter((r) => r.late);
    const silent = new Set(stats.rows.filter((r) => r.status === "missing" && r.level !== "rollup")
      .map((r) => r.department));
    $("compliance-summary").textContent = `截至 ${stats.today}：逾期或未报送 ${stats.late} 个报送单元；`
      + `有未报送类别的部门 ${silent.size} 个`;
    const trs = fill($("compliance-table").tBodies[0], rows, (r) => [
      r.level === "rollup" ? r.department + "（合计）" : r.department, r.district || "市级",
      r.class_name, CYCLES[r.cycle] || r.cycle, r.received, r.stored, r.rejected,
      r.valid_rate === null ? "—" : (100 * r.valid_rate).toFixed(1) + "%",
      r.valid_rate === null ? "—" : r.valid_full_marks ? "满分" : "扣分",
      r.due_period, r.next_due, r.last_arrival || "未报送",
      (STATUS[r.status] || r.status) + (r.late && r.days_late ? `（${r.days_late} 个工作日）` : ""),
    ]);
    trs.forEach((tr, i) => {
      tr.classList.toggle("late", rows[i].late);
      tr.classList.toggle("rollup", rows[i].level === "rollup");
    });
    departments(rows.filter((r) => r.level !== "rollup"));
    const names = [...new Set(stats.rows.map((r) => r.department))];
    $("departments").replaceChildren(...names.map((n) => new Option(n)));
  }

  // per department: its reporting units by verdict and its valid rate, the most late first
  function departments(units) {
    const by = new Map();
    for (const u of units) {
      const d = by.get(u.department) || { name: u.department, units: 0, on_time: 0, late: 0,
                                          missing: 0, received: 0, stored: 0 };
      d.units += 1;
      d[u.status === "on_time" ? "on_time" : u.status === "missing" ? "missing" : "late"] += 1;
      d.received += u.received;
      d.stored += u.stored;
      by.set(u.department, d);
    }
    const list = [...by.values()].sort((a, b) => (b.late + b.missing) - (a.late + a.missing)
                                                 || a.name.localeCompare(b.name, "zh-CN"));
    const trs = fill($("department-table").tBodies[0], list, (d) => {
      const rate = d.received ? d.stored / d.received : null;
      return [d.name, d.units, d.on_time, d.late, d.missing, d.received, d.stored,
              rate === null ? "—" : (100 * rate).toFixed(1) + "%",
              rate === null ? "—" : rate >= 0.95 ? "满分" : "扣分"];
    });
    trs.forEach((tr, i) => {
      tr.dataset.department = list[i].name;
      tr.classList.toggle("late", list[i].late + list[i].missing > 0);
    });
  }

  const objections = () => Objections.load("objection-table", $("objection-stage").value, act);

  async function repairs() {
    const list = (await api("/api/repairs")).repairs;
    const trs = fill($("repair-table").tBodies[0], list, (r) => [
      r.repair_id, r.class_code, r.record_key, r.subject_id, r.grounds, r.applied_on, r.due_on,
      { pending: "待决定", approved: "已批准", rejected: "已驳回" }[r.status] || r.status, "",
    ]);
    trs.forEach((tr, i) => {
      const r = list[i];
      if (r.status !== "pending") return;
      if (r.due_on < today()) tr.classList.add("late");
      const reason = document.createElement("input");
      reason.setAttribute("aria-label", "决定理由");
      reason.placeholder = "理由";
      const path = `/api/repairs/${encodeURIComponent(r.repair_id)}/`;
      tr.lastChild.append(reason,
        button("批准", act(() => post(path + "approve", { reason: reason.value }), repairs)),
        button("驳回", act(() => post(path + "reject", { reason: reason.value }), repairs)));
    });
  }

  async function held() {
    const list = (await api("/api/uploads?state=held")).uploads;
    $("held-empty").hidden = list.length > 0;
    const trs = fill($("held-table").tBodies[0], list, (u) => [
      u.upload_id, u.provider, u.class_code, u.received, u.rejected, u.held,
      when(u.accepted_at), "",
    ]);
    trs.forEach((tr, i) => {
      const path = `/api/uploads/${encodeURIComponent(list[i].upload_id)}/`;
      tr.lastChild.append(button("放行", act(() => post(path + "release"), held)),
                          button("撤回", act(() => post(path + "withdraw"), held)));
    });
  }

  async function authorizations() {
    const subject = $("auth-subject").value.trim();
    const institution = $("auth-institution").value.trim();
    if (!subject && !institution) return;
    const list = (await api("/api/authorizations?" + query({ subject, institution }))).authorizations;
    const trs = fill($("auth-table").tBodies[0], list, (a) => [
      a.auth_id, a.subject_id, a.institution, a.purpose, a.valid_from, a.valid_to,
      a.revoked_at ? "已撤销" : a.active ? "有效" : "未生效或已过期", "",
    ]);
    trs.forEach((tr, i) => {
      if (list[i].revoked_at) return;
      const path = `/api/authorizations/${encodeURIComponent(list[i].auth_id)}/revoke`;
      tr.lastChild.append(button("撤销", act(() => post(path), authorizations)));
    });
  }

  async function audit() {
    const subject = $("audit-subject").value.trim();
    const reader = $("audit-reader").value.trim();
    if (!subject && !reader) return;
    const reads = (await api("/api/audit?" + query({ subject, reader }))).reads;
    fill($("audit-table").tBodies[0], reads, (r) => [
      when(r.at), r.subject_id, r.reader, r.reader_role,
      r.organization, r.what, r.purpose, r.outcome,
    ]);
  }

  async function accounts() {
    const tokens = (await api("/api/access/tokens")).tokens;
    const trs = fill($("token-table").tBodies[0], tokens, (t) => [
      t.token_id, t.role, t.name, t.org, when(t.issued_at, 16),
      t.expires_at ? when(t.expires_at, 16) : "不过期",
      { active: "有效", expired: "已过期", revoked: "已撤销" }[t.state], "",
    ]);
    trs.forEach((tr, i) => {
      const path = `/api/access/tokens/${encodeURIComponent(tokens[i].token_id)}/revoke`;
      if (tokens[i].state === "active") tr.lastChild.append(button("撤销", act(() => post(path), accounts)));
    });
    const keys = (await api("/api/access/keys")).keys;
    const rows = fill($("key-table").tBodies[0], keys, (k) => [
      k.provider, k.department, k.district || "市级", (k.classes || []).length,
      k.state === "active" ? "有效" : "已撤销", "",
    ]);
    rows.forEach((tr, i) => {
      const path = `/api/access/keys/${encodeURIComponent(keys[i].provider)}/`;
      const rotate = async () => secret((await post("/api/access/keys",
        { provider: keys[i].provider, rotate: true })).key, keys[i].provider);
      tr.lastChild.append(button("更换", act(rotate, accounts)));
      if (keys[i].state === "active") tr.lastChild.append(button("撤销", act(() => post(path + "revoke"), accounts)));
    });
  }

  function secret(value, holder) {
    $("secret").textContent = `${holder}：${value}`;
  }

  // a form: `submit` (if any), then `reload`, as a button's action
  function wire(id, reload, submit = async () => {}) {
    const run = act(submit, reload);
    $(id).addEventListener("submit", (event) => { event.preventDefault(); return run(); });
  }

  function forms() {
    wire("compliance-form", compliance);
    wire("objection-filter", objections);
    wire("objection-file", objections, () => post("/api/objections", {
      class_code: $("objection-class").value.trim(), record_key: $("objection-record").value.trim(),
      grounds: $("objection-grounds").value.trim() }));
    wire("auth-search", authorizations);
    wire("auth-grant", authorizations, async () => {
      await post("/api/authorizations", { subject: $("grant-subject").value.trim(),
        institution: $("grant-institution").value.trim(), purpose: $("grant-purpose").value.trim(),
        valid_to: $("grant-to").value });
      $("auth-subject").value = $("grant-subject").value.trim();
    });
    wire("audit-search", audit);
    wire("token-issue", accounts, async () => {
      const t = await post("/api/access/tokens", { role: $("token-role").value,
        name: $("token-name").value.trim(), org: $("token-org").value.trim(),
        hours: Number($("token-hours").value) });
      secret(t.token, `${t.name}（${t.role}，${t.token_id}）`);
    });
    wire("key-issue", accounts, async () => {
      const k = await post("/api/access/keys", { provider: $("key-provider").value.trim(),
        department: $("key-department").value.trim(), district: $("key-district").value.trim() });
      secret(k.key, k.provider);
    });
  }

  async function page() {
    const me = await Console.signedIn(["admin", "analyst"]);
    if (!me) return;
    forms();
    const loads = [compliance, objections, repairs, Monthly.wire, () => Outbound.wire(me.role)];
    if (me.role === "admin") loads.push(held, accounts);
    const results = await Promise.allSettled(loads.map((load) => load()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) fail(failed.reason);
    document.body.dataset.ready = "1";
  }

  return { page };
})();
