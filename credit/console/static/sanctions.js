/* 联合奖惩核查: a department checks a subject's red and black list entries and the measures
   that apply (seed 003 第十九条), with a purpose the usage log keeps. */
"use strict";
const Sanctions = (() => {
  const { api, query, fill, show, $ } = Console;

  async function check() {
    const code = $("sanction-code").value.trim();
    const answer = await api(`/api/sanctions/${encodeURIComponent(code)}?` +
                             query({ purpose: $("sanction-purpose").value.trim() }));
    const lists = [answer.on_black_list ? "在黑名单上" : "", answer.on_red_list ? "在红名单上" : ""]
      .filter(Boolean);
    show("sanction-result", `${answer.subject}：${lists.join("，") || "不在红黑名单上"}（${answer.as_of}）`,
         answer.on_black_list);
    fill($("sanction-entries").tBodies[0], answer.entries, (e) => [
      e.list === "black" ? "黑名单" : "红名单", e.class_name, e.listed_on, e.until || "—",
      e.fields.filter((f) => f.value).map((f) => `${f.label}：${f.value}`).join("；")]);
    const measures = Object.entries(answer.measures).flatMap(([kind, found]) =>
      found.map((m) => ({ kind, ...m })));
    fill($("sanction-measures").tBodies[0], measures, (m) => [
      m.kind === "black" ? "失信惩戒" : "守信激励", m.area, m.measure]);
    $("sanction-details").hidden = answer.entries.length === 0;
  }

  const SECTION = `
      <h2>联合奖惩核查（政府采购、招标投标、项目审批、资金安排、招商引资）</h2>
      <form id="sanction-form" class="inline">
        <label for="sanction-code">统一社会信用代码或证件号码</label>
        <input id="sanction-code" required size="22" autocomplete="off">
        <label for="sanction-purpose">核查用途（记入使用记录）</label>
        <input id="sanction-purpose" required size="20">
        <button type="submit" id="sanction-check">核查</button>
      </form>
      <p id="sanction-result" role="status"></p>
      <div id="sanction-details" hidden>
        <table id="sanction-entries" class="data">
          <thead><tr><th>名单</th><th>类别</th><th>列入日期</th><th>公示截止</th><th>内容</th></tr></thead>
          <tbody></tbody>
        </table>
        <table id="sanction-measures" class="data">
          <thead><tr><th>措施</th><th>领域</th><th>应采取的措施</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
`;

  // the form and tables, the same on every page that has a <section id="sanctions">
  function wire() {
    $("sanctions").innerHTML = SECTION;
    $("sanction-form").addEventListener("submit", (event) => {
      event.preventDefault();
      check().catch((err) => show("sanction-result", "核查失败：" + err.message));
    });
  }

  return { wire };
})();
