/* The analysts' page: the risk list with its filters and exports, a subject's report by its
   code, and the collection trend per department and class. */
"use strict";
const Analyst = (() => {
  const { api, download, query, fill, show, yuan, $ } = Console;
  const fail = (err) => show("analyst-error", err.message);

  function filters() {
    return query({ district: $("risk-district").value.trim(), utility: $("risk-utility").value,
                   min_utilities: $("risk-utilities").value, min_amount: $("risk-amount").value,
                   min_days_overdue: $("risk-days").value, limit: 1000 });
  }

  function reportLink(code, name) {
    const a = document.createElement("a");
    a.href = "/console/report?" + query({ code, purpose: $("lookup-purpose").value || "风险监测" });
    a.textContent = code;
    a.title = `查看 ${name} 的信用报告`;
    return a;
  }

  async function risk() {
    const subjects = (await api("/api/risk/monitor?" + filters())).subjects;
    const total = subjects.reduce((sum, s) => sum + s.arrears_amount, 0);
    $("risk-summary").textContent = `${subjects.length} 个主体，欠费合计 ${yuan(total)}`;
    const trs = fill($("risk-table").tBodies[0], subjects, (s) => [
      s.subject_id, s.name, s.district, s.industry || "", s.utility_types.join("、"),
      yuan(s.arrears_amount), yuan(s.long_overdue_amount), s.max_days_overdue, s.arrears_since,
    ]);
    trs.forEach((tr, i) => {  // a person's masked ID cannot open a report: no link
      if (subjects[i].kind !== "natural") {
        tr.cells[0].replaceChildren(reportLink(subjects[i].subject_id, subjects[i].name));
      }
    });
  }

  let history = [];
  async function collection() {
    history = (await api("/api/stats/history?months=12")).rows;
    const fillSelect = (id, values) => {
      const select = $(id);
      const kept = select.value;
      select.replaceChildren(select.options[0]);
      for (const v of [...new Set(values)].sort()) select.add(new Option(v, v));
      select.value = kept;
    };
    fillSelect("collection-department", history.map((r) => r.department));
    fillSelect("collection-class", history.map((r) => r.class_code));
    drawCollection();
  }

  function drawCollection() {
    const dept = $("collection-department").value, cls = $("collection-class").value;
    const rows = history.filter((r) => (!dept || r.department === dept)
                                       && (!cls || r.class_code === cls));
    const months = [...new Set(rows.map((r) => r.month.slice(0, 7)))].sort();
    const sum = (field) => months.map((m) => rows.filter((r) => r.month.startsWith(m))
      .reduce((total, r) => total + r[field], 0));
    Charts.bars($("collection-chart"), `归集趋势：${dept || "全部部门"} · ${cls || "全部类别"}`,
                months, [{ name: "入库", values: sum("stored") }, { name: "拒绝", values: sum("rejected") }]);
  }

  async function page() {
    const me = await Console.signedIn(["admin", "analyst", "bank", "party"]);
    if (!me) return;
    $("lookup-form").addEventListener("submit", (event) => {
      event.preventDefault();  // a typed code (a citizen ID) goes by the tab, not the address
      sessionStorage.setItem("credit.report", JSON.stringify({
        code: $("lookup-code").value.trim(), purpose: $("lookup-purpose").value.trim() }));
      location.href = "/console/report";
    });
    if (["bank", "admin"].includes(me.role)) await Monitoring.wire();
    if (["bank", "party"].includes(me.role)) { document.body.dataset.ready = "1"; return; }
    $("risk-form").addEventListener("submit", (event) => {
      event.preventDefault();
      show("analyst-error", "");
      risk().catch(fail);
    });
    for (const fmt of ["csv", "xlsx"]) {
      $("export-" + fmt).addEventListener("click", () =>
        download(`/api/risk/monitor?${filters()}&format=${fmt}`, `风险名单.${fmt}`).catch(fail));
    }
    $("collection-department").addEventListener("change", drawCollection);
    $("collection-class").addEventListener("change", drawCollection);
    const results = await Promise.allSettled([risk(), collection()]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) fail(failed.reason);
    document.body.dataset.ready = "1";
  }

  return { page };
})();
