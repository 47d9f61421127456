/* 数据总量统计月报: a month's records as of its end (万条, natural vs legal, per class and
   department) and the 归集比例 — what had reached the provincial platform — with seed 003's
   alarm level; as Excel. */
"use strict";
const Monthly = (() => {
  const { api, download, query, fill, show, $ } = Console;
  const lastMonth = () => {
    const d = new Date();
    d.setDate(1);
    d.setMonth(d.getMonth() - 1);
    return d.toISOString().slice(0, 7);
  };
  const params = () => query({ month: $("monthly-month").value, target: $("monthly-target").value.trim() });

  async function load() {
    const r = await api("/api/stats/monthly?" + params());
    const c = r.collection_ratio;
    const share = c.ratio === null ? "—" : (100 * c.ratio).toFixed(1) + "%";
    const warn = c.ratio !== null && c.ratio < 0.9 ? "⚠ " : "";
    show("monthly-summary", `${warn}${r.month}（截至 ${r.as_of}）：数据总量 ${r.total.wan} 万条（${r.total.records} 条），`
      + `自然人 ${r.natural.wan} 万条，法人和其他组织 ${r.legal.wan} 万条；归集比例 ${share}`
      + `（${c.target || "无推送目标"}）：${c.level}${c.consequence ? "——" + c.consequence : ""}`,
      false);
    fill($("monthly-classes").tBodies[0], r.classes, (x) => [
      x.name, x.class_code, x.records, x.wan, x.pushed, x.ratio === null ? "—" : (100 * x.ratio).toFixed(1) + "%"]);
    fill($("monthly-departments").tBodies[0], r.departments, (d) => [d.department, d.records, d.wan]);
  }

  const SECTION = `
      <h2>数据总量统计月报（归集比例：低于60%、80%、90%预警）</h2>
      <form id="monthly-form" class="inline">
        <label for="monthly-month">月份</label><input id="monthly-month" type="month" required>
        <label for="monthly-target">推送目标（空为省平台）</label><input id="monthly-target" size="12">
        <button type="submit">统计</button>
        <button type="button" id="monthly-xlsx">下载 Excel</button>
      </form>
      <p id="monthly-summary" role="status"></p>
      <table id="monthly-classes" class="data">
        <thead><tr><th>信息类别</th><th>代码</th><th>条数</th><th>万条</th><th>已推送</th><th>归集比例</th></tr></thead>
        <tbody></tbody>
      </table>
      <table id="monthly-departments" class="data">
        <thead><tr><th>报送部门</th><th>条数</th><th>万条</th></tr></thead>
        <tbody></tbody>
      </table>
`;

  function wire() {
    $("monthly").innerHTML = SECTION;
    $("monthly-month").value = lastMonth();
    const fail = (err) => show("monthly-summary", "统计失败：" + err.message);
    $("monthly-form").addEventListener("submit", (event) => { event.preventDefault(); load().catch(fail); });
    $("monthly-xlsx").addEventListener("click", () =>
      download("/api/stats/monthly?" + params() + "&format=xlsx",
               `数据总量统计月报-${$("monthly-month").value}.xlsx`).catch(fail));
    return load();
  }

  return { wire };
})();
